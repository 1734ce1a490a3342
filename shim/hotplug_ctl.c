/*
 * The hotplug controller (shim/hotplug_ctl.h): timers, deltas between
 * samples, one step in flight per resource, logs. The decisions themselves
 * are shim/hotplug_policy.c's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "shim/hotplug_ctl.h"
#include "shim/hotplug_policy.h"

struct hp_res {
	struct hotplug_ctl *ctl;
	enum hp_resource kind;
	bool on;
	struct hp_params p;
	struct hp_state st;
	struct ev_timer *timer;
	bool busy; /* a sample or a step in flight */
	bool have_prev;
	struct hp_guest_sample prev;
	uint64_t prev_ns;
	unsigned plugged; /* vCPUs or MiB */
};

struct hotplug_ctl {
	const struct hotplug_ops *ops;
	void *arg;
	char id[128];
	struct hp_res r[2];
};

static const char *const res_name[] = {"cpu", "memory"};

static void
tick(struct ev_timer *t, void *arg)
{
	struct hp_res *r = arg;

	(void)t;
	if (r->busy)
		return; /* the guest or QEMU is slow: skip, never queue */
	r->busy = true;
	if (r->ctl->ops->sample(r->ctl->arg, r->kind) == -1) {
		r->busy = false;
		log_debug("%s: sandbox %s: %s sample not started", __func__,
		    r->ctl->id, res_name[r->kind]);
	}
}

static void
res_init(struct hotplug_ctl *c, struct evloop *loop, enum hp_resource kind,
    const struct qb_config *cfg)
{
	struct hp_res *r = &c->r[kind];
	uint64_t ns;

	r->ctl = c;
	r->kind = kind;
	if (kind == HP_CPU) {
		hp_params_cpu(&r->p, cfg);
		r->plugged = cfg->runtime.boot_cpus;
	} else {
		hp_params_mem(&r->p, cfg);
		r->plugged = cfg->runtime.memory_mb;
	}
	ns = r->p.interval_ms * 1000000ULL;
	r->on = (kind == HP_CPU ? cfg->cpu_hotplug.enabled
	                        : cfg->memory_hotplug.enabled) &&
	        r->p.max > r->p.min;
	if (r->on)
		r->timer = evloop_timer_add(loop, ns, ns, tick, r);
	if (r->on && r->timer == NULL) {
		log_warn("%s: sandbox %s: %s timer", __func__, c->id,
		    res_name[kind]);
		r->on = false;
	}
}

struct hotplug_ctl *
hotplug_ctl_new(struct evloop *loop, const struct qb_config *cfg,
    const struct hotplug_ops *ops, void *arg, const char *sandbox_id)
{
	struct hotplug_ctl *c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->ops = ops;
	c->arg = arg;
	snprintf(c->id, sizeof(c->id), "%s", sandbox_id);
	res_init(c, loop, HP_CPU, cfg);
	res_init(c, loop, HP_MEM, cfg);
	if (!c->r[HP_CPU].on && !c->r[HP_MEM].on) {
		free(c);
		return NULL;
	}
	log_info("%s: sandbox %s: cpu %u..%u vCPUs%s, memory %u..%u MiB%s",
	    __func__, c->id, c->r[HP_CPU].p.min, c->r[HP_CPU].p.max,
	    c->r[HP_CPU].on ? "" : " (fixed)", c->r[HP_MEM].p.min,
	    c->r[HP_MEM].p.max, c->r[HP_MEM].on ? "" : " (fixed)");
	return c;
}

void
hotplug_ctl_free(struct hotplug_ctl *c)
{
	if (c == NULL)
		return;
	evloop_timer_del(c->r[HP_CPU].timer);
	evloop_timer_del(c->r[HP_MEM].timer);
	free(c);
}

static void
start_step(struct hp_res *r, enum hp_decision d, const char *why)
{
	int dir = d == HP_UP ? 1 : -1;
	unsigned to =
	    d == HP_UP ? r->plugged + r->p.step : r->plugged - r->p.step;

	log_info("%s: sandbox %s: %s scale %s %u -> %u%s (%s)", __func__,
	    r->ctl->id, res_name[r->kind], hp_decision_name(d), r->plugged, to,
	    r->kind == HP_CPU ? " vCPUs" : " MiB", why);
	r->busy = true;
	if (r->ctl->ops->step(r->ctl->arg, r->kind, dir, r->p.step) == -1) {
		r->busy = false;
		/* Counts as a change: a failing device must not be retried
		 * every sample. */
		hp_note_change(&r->st, evloop_now_ns() / 1000000ULL);
		log_warnx("%s: sandbox %s: %s scale %s could not start",
		    __func__, r->ctl->id, res_name[r->kind],
		    hp_decision_name(d));
	}
}

static void
decide_cpu(struct hp_res *r, const struct hp_guest_sample *s, uint64_t now_ns)
{
	struct hp_cpu_sample cs = {0};
	uint64_t dtot = s->cpu_total_ticks - r->prev.cpu_total_ticks;
	uint64_t dbusy = s->cpu_busy_ticks - r->prev.cpu_busy_ticks;
	uint64_t dthr = s->throttled_usec - r->prev.throttled_usec;
	uint64_t dwall_us = (now_ns - r->prev_ns) / 1000;
	enum hp_decision d;
	char why[128];

	if (dtot == 0 || dwall_us == 0)
		return;
	cs.now_ms = now_ns / 1000000ULL;
	cs.plugged = r->plugged;
	cs.online = s->cpus_online;
	cs.busy_pct = 100.0 * (double)dbusy / (double)dtot;
	cs.throttled_pct = 100.0 * (double)dthr / (double)dwall_us;
	d = hp_cpu_decide(&r->p, &r->st, &cs);
	log_debug("%s: sandbox %s: cpu busy %.1f%% of %u online, throttled "
	          "%.1f%%: %s",
	    __func__, r->ctl->id, cs.busy_pct, cs.online, cs.throttled_pct,
	    hp_decision_name(d));
	if (d == HP_HOLD)
		return;
	snprintf(why, sizeof(why), "busy %.0f%% of %u online vCPUs",
	    cs.busy_pct, cs.online);
	start_step(r, d, why);
}

static void
decide_mem(struct hp_res *r, const struct hp_guest_sample *s, uint64_t now_ns)
{
	struct hp_mem_sample ms = {0};
	enum hp_decision d;
	char why[128];

	ms.now_ms = now_ns / 1000000ULL;
	ms.plugged_mb = r->plugged;
	ms.total_mb = (unsigned)(s->mem_total_kb / 1024);
	ms.used_mb = (unsigned)((s->mem_total_kb - s->mem_available_kb) / 1024);
	d = hp_mem_decide(&r->p, &r->st, &ms);
	log_debug("%s: sandbox %s: memory %u of %u MiB used: %s", __func__,
	    r->ctl->id, ms.used_mb, ms.total_mb, hp_decision_name(d));
	if (d == HP_HOLD)
		return;
	snprintf(
	    why, sizeof(why), "%u of %u MiB used", ms.used_mb, ms.total_mb);
	start_step(r, d, why);
}

void
hotplug_ctl_sample(struct hotplug_ctl *c, enum hp_resource kind,
    const struct hp_guest_sample *s, const char *why)
{
	struct hp_res *r = &c->r[kind];
	uint64_t now = evloop_now_ns();
	bool sane;

	r->busy = false;
	if (s == NULL) {
		log_debug("%s: sandbox %s: %s sample failed: %s", __func__,
		    c->id, res_name[kind], why != NULL ? why : "?");
		return;
	}
	/* A guest reports what it likes: counters that went back (or a
	 * first sample) only start a new baseline. */
	sane = s->cpu_total_ticks >= r->prev.cpu_total_ticks &&
	       s->cpu_busy_ticks >= r->prev.cpu_busy_ticks &&
	       s->throttled_usec >= r->prev.throttled_usec &&
	       s->mem_available_kb <= s->mem_total_kb;
	if (r->have_prev && sane) {
		if (kind == HP_CPU)
			decide_cpu(r, s, now);
		else
			decide_mem(r, s, now);
	}
	r->prev = *s;
	r->prev_ns = now;
	r->have_prev = true;
}

void
hotplug_ctl_step_done(struct hotplug_ctl *c, enum hp_resource kind, bool ok,
    unsigned plugged, const char *why)
{
	struct hp_res *r = &c->r[kind];

	r->busy = false;
	hp_note_change(&r->st, evloop_now_ns() / 1000000ULL);
	/* The guest's counters change meaning with its size: new baseline. */
	r->have_prev = false;
	if (ok)
		log_info("%s: sandbox %s: %s now %u%s", __func__, c->id,
		    res_name[kind], plugged,
		    kind == HP_CPU ? " vCPUs" : " MiB");
	else
		log_warnx("%s: sandbox %s: %s step failed (%s), have %u%s",
		    __func__, c->id, res_name[kind], why != NULL ? why : "?",
		    plugged, kind == HP_CPU ? " vCPUs" : " MiB");
	r->plugged = plugged;
}

void
hotplug_ctl_no_scale_down(
    struct hotplug_ctl *c, enum hp_resource kind, const char *why)
{
	struct hp_res *r = &c->r[kind];

	if (!r->p.scale_down)
		return;
	r->p.scale_down = false;
	log_warnx("%s: sandbox %s: %s scale-down off for this VM: %s", __func__,
	    c->id, res_name[kind], why);
}

void
hotplug_ctl_resized(
    struct hotplug_ctl *c, enum hp_resource kind, unsigned plugged)
{
	struct hp_res *r = &c->r[kind];

	hp_note_change(&r->st, evloop_now_ns() / 1000000ULL);
	r->have_prev = false;
	r->plugged = plugged;
}

unsigned
hotplug_ctl_plugged(const struct hotplug_ctl *c, enum hp_resource kind)
{
	return c->r[kind].plugged;
}
