/*
 * The environment the shim passes on to its daemon and helpers.
 */
#ifndef QEMUBOX_SHIM_ENV_H
#define QEMUBOX_SHIM_ENV_H

#include <stddef.h>

/*
 * Rewrites LD_LIBRARY_PATH to keep only absolute entries naming a
 * directory that holds something, and unsets it when none is left.
 *
 * containerd (its "opt" plugin) exports LD_LIBRARY_PATH=/opt/containerd/lib:
 * to every shim. The empty entry after the colon means "the current
 * directory" (a shim starts in the bundle directory), and the usually empty
 * /opt directory costs ld.so a failed open per search variant: 94-131 failed
 * opens and 3-4 ms of CPU per exec here, paid by the daemon, privnet, vmmon,
 * spawner and fsd of every sandbox. A library really installed in such a
 * directory still loads.
 */
void shim_env_sanitize(void);

/* The rule itself: in[] (a LD_LIBRARY_PATH value) into out[0..len). */
void shim_env_ld_path(const char *in, char *out, size_t len);

#endif
