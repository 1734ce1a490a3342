/*
 * Filters compiled at build time. seccomp/gen_bpf.c runs a role's policy
 * (seccomp/<role>.c through libseccomp, the one source of truth of what
 * the role may call) once per mode and writes the BPF program libseccomp
 * generated into build/gen/seccomp/bpf_data.c; the role's binary loads
 * that program as is and neither links libseccomp nor compiles a filter at
 * each start (0.6-1.4 ms of CPU per process on this host, mostly first
 * touches of heap pages). test_seccomp_bpf checks that the built program
 * is, instruction for instruction, what the policy generates.
 *
 * Only roles whose filter takes no run-time value: vmmon's names the pids
 * kill(2) may signal and is still compiled at run time.
 */
#ifndef QEMUBOX_SECCOMP_BPF_H
#define QEMUBOX_SECCOMP_BPF_H

#include <linux/filter.h>

#include "lib/config.h"

struct qb_bpf {
	const struct sock_filter *insns;
	unsigned short len;
};

/* Indexed by enum qb_seccomp_mode (QB_SECCOMP_ENFORCE, QB_SECCOMP_LOG). */
extern const struct qb_bpf qb_bpf_shim[2];
extern const struct qb_bpf qb_bpf_privnet[2];

/* Set NoNewPrivs, then install f (as libseccomp's seccomp_load does). */
int qb_seccomp_load_bpf(const struct qb_bpf *f);

/* The policies the programs are built from (libseccomp; build and load). */
int seccomp_policy_shim(enum qb_seccomp_mode mode);
int seccomp_policy_privnet(enum qb_seccomp_mode mode);

#endif
