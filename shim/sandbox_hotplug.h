/*
 * CPU/memory hotplug of one sandbox VM: shim/hotplug_ctl.c's ops carried
 * out with the sandbox's vmmon (device add/remove over QMP) and its guest
 * agent (VmStats samples, onlining what was added), plus the explicit
 * resize an Update asks for.
 */
#ifndef QEMUBOX_SHIM_SANDBOX_HOTPLUG_H
#define QEMUBOX_SHIM_SANDBOX_HOTPLUG_H

#include "lib/config.h"
#include "lib/error.h"

struct evloop;
struct vmmon_client;
struct guest_client;
struct sandbox_hotplug;

/*
 * After the guest is ready. NULL when the config lets nothing change (or
 * on allocation failure, logged): the VM then keeps its boot size.
 */
struct sandbox_hotplug *sandbox_hotplug_start(struct evloop *loop,
    const struct qb_config *cfg, struct vmmon_client *vmmon,
    struct guest_client *guest, const char *sandbox_id);
/* Before the vmmon or guest client goes away. NULL is a no-op. Callbacks of
 * requests still in flight are dropped safely. */
void sandbox_hotplug_stop(struct sandbox_hotplug *);

/*
 * Update: grow the VM to at least cpus vCPUs and mem_mb MiB (each capped at
 * its runtime.max_*; 0 = leave), then call done. The controller may scale
 * down again later once the containers use less.
 */
typedef void (*sandbox_hotplug_done)(void *arg, const struct qb_error *err);
int sandbox_hotplug_resize(struct sandbox_hotplug *, unsigned cpus,
    unsigned mem_mb, sandbox_hotplug_done done, void *arg);

#endif
