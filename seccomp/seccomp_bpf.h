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
 * vmmon's two filters name the pids kill(2) may signal: their programs are
 * built with placeholder pids (QB_BPF_PID0, QB_BPF_PID1: above any pid
 * Linux hands out, and no other constant of the filters), one program per
 * number of pids, and the loader writes the real pids over the
 * placeholders' compare instructions. gen_bpf checks that each
 * placeholder occurs exactly once in its program.
 */
#ifndef QEMUBOX_SECCOMP_BPF_H
#define QEMUBOX_SECCOMP_BPF_H

#include <linux/filter.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/config.h"

struct qb_bpf {
	const struct sock_filter *insns;
	unsigned short len;
};

/* PID_MAX_LIMIT is 4194304 (0x400000). */
#define QB_BPF_PID0     0x3ffffff0u
#define QB_BPF_PID1     0x3ffffff1u
#define QB_BPF_MAX_PIDS 2

/* Indexed by enum qb_seccomp_mode (QB_SECCOMP_ENFORCE, QB_SECCOMP_LOG);
 * vmmon's first by the number of pids (placeholders) in the program. */
extern const struct qb_bpf qb_bpf_shim[2];
extern const struct qb_bpf qb_bpf_privnet[2];
extern const struct qb_bpf qb_bpf_vmmon[QB_BPF_MAX_PIDS + 1][2];
extern const struct qb_bpf qb_bpf_vmmon_qemu[2][2];

/* Set NoNewPrivs, then install f (as libseccomp's seccomp_load does). */
int qb_seccomp_load_bpf(const struct qb_bpf *f);
/*
 * f with QB_BPF_PID0.. replaced by pids[0..n-1] into out (room for f->len
 * instructions): -1/EINVAL unless each placeholder below n occurs exactly
 * once and none above.
 */
int qb_bpf_set_pids(const struct qb_bpf *f, const uint32_t *pids, int n,
    struct sock_filter *out);

/* The policies the programs are built from (libseccomp; build and load). */
int seccomp_policy_shim(enum qb_seccomp_mode mode);
int seccomp_policy_privnet(enum qb_seccomp_mode mode);
int seccomp_policy_vmmon(enum qb_seccomp_mode mode, pid_t qemu, pid_t probe);
int seccomp_policy_vmmon_qemu(enum qb_seccomp_mode mode, pid_t self);

#endif
