#ifndef QEMUBOX_SHIM_DAEMON_H
#define QEMUBOX_SHIM_DAEMON_H

#include <limits.h>
#include <stddef.h>

#include "shim/shim_cli.h"
#include "shim/shim_main.h"

struct shim_daemon_ctx {
	const struct shim_opts *opts;
	const struct shim_wiring *wiring; /* backend and confinement */
	int listen_fd;
	char socket_path[PATH_MAX]; /* unlinked on exit; "" if none */
};

/* Where qemubox-privnet and qemubox-vmmon are. */
int shim_libexec_dir(char *dir, size_t len);

/* What the daemon serves, for -v. */
const char *shim_serve_features(void);

/* Spawn helpers, drop privileges, serve until shutdown; exit code. */
int shim_serve(struct shim_daemon_ctx *d);

#endif
