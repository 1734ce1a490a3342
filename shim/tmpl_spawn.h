/*
 * Who starts qemubox-tmpl, the template holder: the shim daemon, while it
 * is still root, when cloning is on (runtime.clone) and the holder's
 * socket does not answer. The holder is detached (a session of its own,
 * not the shim's child once started) and outlives the shim; it logs to
 * <paths.log_dir>/qemubox-tmpl.log. Racing shims start at most one
 * serving holder: a second one finds the lock taken and exits at once.
 * The Create that finds no ready template cold-boots.
 */
#ifndef QEMUBOX_SHIM_TMPL_SPAWN_H
#define QEMUBOX_SHIM_TMPL_SPAWN_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/config.h"

/* The holder's socket for cfg: <paths.state_dir>/tmpl/tmpl.sock. */
int tmpl_sock_path(const struct qb_config *cfg, char *buf, size_t len);

/*
 * 1: a holder answers already; 0: one was started (exec succeeded);
 * -1 with errno: could not start it (logged).
 */
int tmpl_spawn_if_down(
    const struct qb_config *cfg, const char *libexec, bool debug);

#endif
