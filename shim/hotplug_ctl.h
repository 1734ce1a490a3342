/*
 * The per-sandbox CPU/memory hotplug controller. Every monitor_interval of a
 * resource it asks for a usage sample of the guest, turns two consecutive
 * samples into a utilisation, asks shim/hotplug_policy.c what to do and
 * carries a step out, one step at a time, through the sandbox's ops (vmmon
 * for the device, the guest agent to online what was added). Every decision
 * that changes the VM, and every failure, is logged with the figures behind
 * it.
 *
 * The controller never blocks: ops start asynchronous work and report back
 * through hotplug_ctl_sample() and hotplug_ctl_step_done(). It owns no fd.
 */
#ifndef QEMUBOX_SHIM_HOTPLUG_CTL_H
#define QEMUBOX_SHIM_HOTPLUG_CTL_H

#include <stdbool.h>
#include <stdint.h>

#include "lib/config.h"
#include "lib/evloop.h"

enum hp_resource { HP_CPU, HP_MEM };

/* One reading of the guest (guest/agent_vmstats.h, over the channel). */
struct hp_guest_sample {
	uint64_t cpu_busy_ticks, cpu_total_ticks; /* cumulative */
	uint32_t cpus_online;
	uint64_t mem_total_kb, mem_available_kb;
	uint64_t throttled_usec; /* cumulative */
};

struct hotplug_ctl;

struct hotplug_ops {
	/* Start reading a sample; answer with hotplug_ctl_sample(res, ...). */
	int (*sample)(void *arg, enum hp_resource res);
	/*
	 * Start one step: dir +1 adds, -1 removes; amount is 1 (vCPU) or the
	 * MiB of one increment. Answer with hotplug_ctl_step_done().
	 */
	int (*step)(void *arg, enum hp_resource res, int dir, unsigned amount);
};

/* NULL when neither resource can change (hotplug off or max == boot). */
struct hotplug_ctl *hotplug_ctl_new(struct evloop *loop,
    const struct qb_config *cfg, const struct hotplug_ops *ops, void *arg,
    const char *sandbox_id);
void hotplug_ctl_free(struct hotplug_ctl *);

/* s == NULL: the sample failed (why says how); the next tick tries again. */
void hotplug_ctl_sample(struct hotplug_ctl *, enum hp_resource,
    const struct hp_guest_sample *s, const char *why);
/* plugged: vCPUs or MiB the VM has after the step, whatever the outcome. */
void hotplug_ctl_step_done(struct hotplug_ctl *, enum hp_resource, bool ok,
    unsigned plugged, const char *why);

/* This VM can never remove a resource (vmmon refused for good, e.g. vCPU
 * unplug under TCG): stop trying, say so once. */
void hotplug_ctl_no_scale_down(
    struct hotplug_ctl *, enum hp_resource, const char *why);

/* A step the controller did not ask for (an Update's resize) changed the
 * VM: plugged is what it has now; counts as a change for the cooldowns. */
void hotplug_ctl_resized(
    struct hotplug_ctl *, enum hp_resource, unsigned plugged);

/* What the VM has now, for Update and for tests. */
unsigned hotplug_ctl_plugged(const struct hotplug_ctl *, enum hp_resource);

#endif
