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

/* f with its placeholders set to the positive pids of pids[0..n-1]. */
static int
load_with_pids(const struct qb_bpf f[][2], enum qb_seccomp_mode mode,
    const pid_t *pids, int n)
{
	static struct sock_filter insns[BPF_MAXINSNS];
	uint32_t set[QB_BPF_MAX_PIDS];
	const struct qb_bpf *p;
	struct qb_bpf patched;
	int i, m = 0;

	for (i = 0; i < n; i++)
		if (pids[i] > 0)
			set[m++] = (uint32_t)pids[i];
	p = &f[m][mode == QB_SECCOMP_LOG ? 1 : 0];
	if (p->len > BPF_MAXINSNS || qb_bpf_set_pids(p, set, m, insns) == -1) {
		errno = EINVAL;
		return -1;
	}
	patched.insns = insns;
	patched.len = p->len;
	return qb_seccomp_load_bpf(&patched);
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

int
seccomp_apply_vmmon(enum qb_seccomp_mode mode, pid_t qemu, pid_t probe)
{
	const pid_t pids[2] = {qemu, probe};

	return load_with_pids(qb_bpf_vmmon, mode, pids, 2);
}

int
seccomp_apply_vmmon_qemu(enum qb_seccomp_mode mode, pid_t self)
{
	return load_with_pids(qb_bpf_vmmon_qemu, mode, &self, 1);
}
