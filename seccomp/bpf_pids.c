/*
 * The placeholder pids of vmmon's built programs (seccomp/seccomp_bpf.h):
 * pure, shared by the loader and the build tool that checks each program.
 */
#include "seccomp/seccomp_bpf.h"

#include <errno.h>

int
qb_bpf_set_pids(const struct qb_bpf *f, const uint32_t *pids, int n,
    struct sock_filter *out)
{
	static const uint32_t ph[QB_BPF_MAX_PIDS] = {QB_BPF_PID0, QB_BPF_PID1};
	int seen[QB_BPF_MAX_PIDS] = {0}, i;
	unsigned short k;

	if (n < 0 || n > QB_BPF_MAX_PIDS)
		goto bad;
	for (k = 0; k < f->len; k++) {
		out[k] = f->insns[k];
		for (i = 0; i < QB_BPF_MAX_PIDS; i++) {
			if (out[k].k != ph[i])
				continue;
			if (out[k].code != (BPF_JMP | BPF_JEQ | BPF_K) ||
			    i >= n)
				goto bad;
			seen[i]++;
			out[k].k = pids[i];
		}
	}
	for (i = 0; i < n; i++)
		if (seen[i] != 1)
			goto bad;
	return 0;
bad:
	errno = EINVAL;
	return -1;
}
