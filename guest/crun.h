/*
 * Driving crun in the guest: bundle preparation (the host's OCI spec,
 * rewritten for the VM) and crun invocations.
 */
#ifndef QEMUBOX_GUEST_CRUN_H
#define QEMUBOX_GUEST_CRUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/error.h"

#define CRUN_PATH "/usr/bin/crun"
#define CRUN_ROOT "/run/crun"

struct bundle_file {
	const char *dest; /* absolute path in the container */
	const char *src;  /* file in the guest, bind-mounted read-only */
};

/*
 * Write dir/config.json from the host's spec: root.path = rootfs, the
 * network namespace removed (the container uses the VM's eth0), host-only
 * settings the guest cannot honour (AppArmor profile, SELinux labels)
 * dropped, process.terminal = terminal, and a read-only bind per file
 * (replacing any spec mount at the same destination).
 */
int crun_write_bundle(const char *dir, const uint8_t *spec, size_t n,
    const char *rootfs, bool terminal, const struct bundle_file *files,
    size_t nfiles, struct qb_error *err);

/* Write an exec's OCI Process JSON to path, forcing its terminal flag. */
int crun_write_process(const char *path, const uint8_t *json, size_t n,
    bool terminal, struct qb_error *err);

/*
 * Run `crun --root CRUN_ROOT --log <tmp> args...` with stdio from fds
 * (-1: /dev/null) and wait for it. Nonzero exit -> -1 and err holds crun's
 * own message.
 */
int crun_cmd(const char *const args[], const int fds[3], struct qb_error *err);

/*
 * Make crun's sealed in-memory copy now (crun_cmd makes it on first use):
 * before Ready, so that a template holds it and its clones share its pages
 * instead of each copying crun at its first Create.
 */
void crun_prepare(void);

/*
 * Terminals: a listening unix socket for crun's --console-socket, and the
 * pty master crun sends over it (SCM_RIGHTS) once crun has returned.
 */
int crun_console_listen(const char *path);
int crun_console_recv(int lfd);

/* Read a pid file crun wrote. */
pid_t crun_read_pid(const char *path);

#endif
