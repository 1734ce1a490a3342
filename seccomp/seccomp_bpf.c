/*
 * Loading the filters compiled at build time (seccomp/seccomp_bpf.h): the
 * role entry points of the roles that have one.
 */
#include "seccomp/seccomp_bpf.h"

#include <errno.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>

#include "seccomp/seccomp.h"

int
qb_seccomp_load_bpf(const struct qb_bpf *f)
{
	struct sock_fprog prog = {
	    .len = f->len,
	    .filter = (struct sock_filter *)(uintptr_t)f->insns,
	};

	if (f->len == 0) {
		errno = EINVAL;
		return -1;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
		return -1;
	return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0);
}

static const struct qb_bpf *
pick(const struct qb_bpf f[2], enum qb_seccomp_mode mode)
{
	return &f[mode == QB_SECCOMP_LOG ? 1 : 0];
}

int
seccomp_apply_shim(enum qb_seccomp_mode mode)
{
	return qb_seccomp_load_bpf(pick(qb_bpf_shim, mode));
}

int
seccomp_apply_privnet(enum qb_seccomp_mode mode)
{
	return qb_seccomp_load_bpf(pick(qb_bpf_privnet, mode));
}
