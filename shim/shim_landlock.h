/*
 * The shim daemon's confinement after the capability drop: Landlock (the
 * filesystem fence) then seccomp (the syscall allowlist). The rule set is
 * built once, at daemon start, because a Landlock domain can only ever be
 * narrowed: whatever path a later Create hands us must already be inside it.
 */
#ifndef QEMUBOX_SHIM_LANDLOCK_H
#define QEMUBOX_SHIM_LANDLOCK_H

#include <limits.h>
#include <stddef.h>

#include "lib/config.h"
#include "lib/landlock.h"

#define SHIM_LL_MAX_RULES 24

/*
 * The paths are packed one after the other in pool: a slot of PATH_MAX
 * each put every rule's path on a page of its own, one first touch (15-20
 * us of CPU on this host) per rule at each shim start.
 */
struct shim_ll_rules {
	struct landlock_rule rule[SHIM_LL_MAX_RULES];
	char pool[SHIM_LL_MAX_RULES * PATH_MAX];
	size_t n, used;
};

/*
 * Build the rules. bundle = the daemon's bundle directory (its cwd),
 * <containerd state>/io.containerd.runtime.v2.task/<ns>/<id>; publish may be
 * NULL. cfg NULL means the defaults. Returns 0, or -1 (ENAMETOOLONG/ENOSPC).
 */
int shim_landlock_rules(const struct qb_config *cfg, const char *bundle,
    const char *publish, struct shim_ll_rules *out);

/*
 * Apply the rules: 0 enforced, 1 the kernel has no Landlock (logged
 * warning, the shim goes on without the fence), -1 error.
 */
int shim_landlock_apply(
    const struct qb_config *cfg, const char *bundle, const char *publish);

/*
 * The production shim's confine (shim/main.c names it in its wiring),
 * called by shim_serve right after shim_priv_drop(): Landlock from the
 * cwd (the bundle) and the -publish-binary of our own command line, then
 * seccomp_apply_shim(cfg->security.seccomp). Dies (fatalx) on failure.
 */
void shim_confine(const struct qb_config *cfg);

#endif
