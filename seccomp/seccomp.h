/*
 * Per-process seccomp allowlists (libseccomp). Default action: kill the
 * process; `security.seccomp = "log"` logs instead (for diagnosing a missing
 * syscall, never for production). Each role's list lives in seccomp/<role>.c
 * with a comment per group of syscalls saying why the role needs it.
 */
#ifndef QEMUBOX_SECCOMP_H
#define QEMUBOX_SECCOMP_H

#include <sys/types.h>

#include <seccomp.h>

#include "lib/config.h"

/* A filter whose default action is kill-process (or log in QB_SECCOMP_LOG). */
scmp_filter_ctx qb_seccomp_new(enum qb_seccomp_mode mode);
/* Allow every syscall in the NULL-terminated list; unknown names fail. */
int qb_seccomp_allow(scmp_filter_ctx ctx, const char *const *names);
/* Load (NoNewPrivs is set first) and release the context. */
int qb_seccomp_load(scmp_filter_ctx ctx);
/* One rule by syscall name with n argument checks; -1 + errno. */
int qb_seccomp_rule(scmp_filter_ctx ctx, uint32_t action, const char *name,
    unsigned n, const struct scmp_arg_cmp *cmp);

/* Shared groups (seccomp/seccomp_base.c says who needs which, and why). */
extern const char *const qb_sys_base[];
extern const char *const qb_sys_exec[];

/*
 * Build a filter from NULL-terminated lists (a NULL-terminated array of
 * them) plus rules() for argument-filtered calls (may be NULL), and load it.
 */
int qb_seccomp_apply(enum qb_seccomp_mode mode, const char *const *const *lists,
    int (*rules)(scmp_filter_ctx));

/* The role filters. Each builds its list, loads it, returns 0 / -1. */
int seccomp_apply_shim(enum qb_seccomp_mode mode);
int seccomp_apply_privnet(enum qb_seccomp_mode mode);
/* vmmon may kill(2) only its QEMU and its KVM probe (0: none). */
int seccomp_apply_vmmon(enum qb_seccomp_mode mode, pid_t qemu, pid_t probe);
/* vmmon's QEMU launcher, inherited by QEMU (seccomp/vmmon.c says why);
 * kill(2) only of self, its own pid. */
int seccomp_apply_vmmon_qemu(enum qb_seccomp_mode mode, pid_t self);
int seccomp_apply_vminitd(enum qb_seccomp_mode mode);
/* qemubox-spawner and the layer builder it starts (seccomp/spawner.c). */
int seccomp_apply_spawner(enum qb_seccomp_mode mode);
int seccomp_apply_layerbuild(enum qb_seccomp_mode mode);
/* qemubox-fsd, inherited by virtiofsd (seccomp/fsd.c says why). */
int seccomp_apply_fsd(enum qb_seccomp_mode mode);
/* qemubox-tmpl, the template holder (seccomp/tmpl.c). */
int seccomp_apply_tmpl(enum qb_seccomp_mode mode);

#endif
