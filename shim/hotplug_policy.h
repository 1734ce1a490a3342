/*
 * When to add or remove a vCPU or a memory block: a pure function from one
 * usage sample (and what it remembers of the earlier ones) to a decision.
 * The controller (shim/hotplug_ctl.c) samples the guest, calls it and carries
 * the decision out; everything that makes the policy testable lives here.
 *
 * Rules, for both resources:
 * - scale up after `up_stability` consecutive samples at or above
 *   `up_threshold`, scale down after `down_stability` consecutive samples
 *   whose *projected* use (what it would be with one step less) is at or
 *   below `down_threshold`;
 * - a step in either direction waits its cooldown after the last change in
 *   any direction, so flapping input cannot make the VM oscillate faster
 *   than the cooldowns;
 * - never above `max` nor below `min`; scale-down only when enabled.
 * Bounds apply to what the VM has (`plugged`), use to what the guest has
 * online.
 * CPU: a sample whose throttling is at or above `throttle_limit` (when the
 * limit is above 0) changes nothing (the containers' quota, not the vCPU count,
 * bounds them). Memory: free memory under `margin` counts as a high sample, and
 * a step down never leaves less than used + `margin`.
 */
#ifndef QEMUBOX_SHIM_HOTPLUG_POLICY_H
#define QEMUBOX_SHIM_HOTPLUG_POLICY_H

#include <stdbool.h>
#include <stdint.h>

#include "lib/config.h"

enum hp_decision { HP_HOLD, HP_UP, HP_DOWN };

struct hp_params {
	double up_threshold, down_threshold;   /* percent */
	unsigned up_stability, down_stability; /* samples, >= 1 */
	uint64_t up_cooldown_ms, down_cooldown_ms;
	bool scale_down;
	double throttle_limit; /* CPU only, percent */
	unsigned min, max;     /* vCPUs, or MiB of guest memory */
	unsigned step;         /* 1 vCPU, or increment_size_mb */
	unsigned margin;       /* memory only: MiB kept free */
	uint64_t interval_ms;  /* between samples (the controller's clock) */
};

struct hp_state {
	unsigned high_run, low_run; /* consecutive samples so far */
	bool changed;               /* a step was taken at last_change_ms */
	uint64_t last_change_ms;
};

struct hp_cpu_sample {
	uint64_t now_ms;
	unsigned plugged;     /* vCPUs the VM has (boot + hot-added) */
	unsigned online;      /* vCPUs online in the guest */
	double busy_pct;      /* of all online vCPUs over the interval */
	double throttled_pct; /* of the interval, the containers' cgroups */
};

struct hp_mem_sample {
	uint64_t now_ms;
	unsigned plugged_mb; /* the VM's memory: boot + DIMMs */
	unsigned total_mb;   /* online in the guest (MemTotal) */
	unsigned used_mb;    /* total - available */
};

/* Parameters from the config section and the runtime bounds. */
void hp_params_cpu(struct hp_params *p, const struct qb_config *cfg);
void hp_params_mem(struct hp_params *p, const struct qb_config *cfg);

enum hp_decision hp_cpu_decide(const struct hp_params *p, struct hp_state *st,
    const struct hp_cpu_sample *s);
enum hp_decision hp_mem_decide(const struct hp_params *p, struct hp_state *st,
    const struct hp_mem_sample *s);

/* The controller took (or failed to take) the step decided at now_ms. */
void hp_note_change(struct hp_state *st, uint64_t now_ms);

const char *hp_decision_name(enum hp_decision d);

/*
 * The VM size an Update's OCI LinuxResources (JSON) asks for, as Kata sizes
 * a sandbox: boot vCPUs + ceil(cpu.quota / cpu.period), boot memory +
 * memory.limit rounded up to whole increments; each capped at its
 * runtime.max_*. A resource the JSON does not limit keeps 0 ("leave").
 * -1 with err on JSON that is not an object or has a wrong type.
 */
int hp_update_target(const char *json, size_t len, const struct qb_config *cfg,
    unsigned *cpus, unsigned *mem_mb, struct qb_error *err);

#endif
