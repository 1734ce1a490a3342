#include "seccomp/seccomp.h"

#include <errno.h>
#include <sys/prctl.h>

#include "lib/log.h"

scmp_filter_ctx
qb_seccomp_new(enum qb_seccomp_mode mode)
{
	scmp_filter_ctx ctx;

	ctx = seccomp_init(
	    mode == QB_SECCOMP_LOG ? SCMP_ACT_LOG : SCMP_ACT_KILL_PROCESS);
	if (ctx == NULL)
		errno = ENOMEM;
	return ctx;
}

int
qb_seccomp_allow(scmp_filter_ctx ctx, const char *const *names)
{
	int nr, rc;

	for (; *names != NULL; names++) {
		nr = seccomp_syscall_resolve_name(*names);
		if (nr == __NR_SCMP_ERROR) {
			log_warnx("%s: unknown syscall %s", __func__, *names);
			errno = EINVAL;
			return -1;
		}
		if ((rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0)) < 0) {
			log_warnx(
			    "%s: allow %s: error %d", __func__, *names, rc);
			errno = -rc;
			return -1;
		}
	}
	return 0;
}

int
qb_seccomp_rule(scmp_filter_ctx ctx, uint32_t action, const char *name,
    unsigned n, const struct scmp_arg_cmp *cmp)
{
	int nr, rc;

	if ((nr = seccomp_syscall_resolve_name(name)) == __NR_SCMP_ERROR) {
		log_warnx("%s: unknown syscall %s", __func__, name);
		errno = EINVAL;
		return -1;
	}
	if ((rc = seccomp_rule_add_array(ctx, action, nr, n, cmp)) < 0) {
		log_warnx("%s: %s: error %d", __func__, name, rc);
		errno = -rc;
		return -1;
	}
	return 0;
}

int
qb_seccomp_load(scmp_filter_ctx ctx)
{
	int rc;

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1) {
		seccomp_release(ctx);
		return -1;
	}
	rc = seccomp_load(ctx);
	seccomp_release(ctx);
	if (rc < 0) {
		errno = -rc;
		return -1;
	}
	return 0;
}
