/*
 * The hotplug policy (shim/hotplug_policy.h): samples in, decisions out, no
 * I/O, so tests/unit/test_hotplug_policy.c can drive every rule with a clock
 * of its own.
 */
#include <limits.h>
#include <stdint.h>

#include <json-c/json.h>

#include "shim/hotplug_policy.h"

void
hp_params_cpu(struct hp_params *p, const struct qb_config *cfg)
{
	const struct qb_hotplug_config *h = &cfg->cpu_hotplug;

	p->up_threshold = h->scale_up_threshold;
	p->down_threshold = h->scale_down_threshold;
	p->up_stability = h->scale_up_stability.samples;
	p->down_stability = h->scale_down_stability.samples;
	p->up_cooldown_ms = h->scale_up_cooldown_ms;
	p->down_cooldown_ms = h->scale_down_cooldown_ms;
	p->scale_down = h->enable_scale_down;
	p->throttle_limit = h->scale_up_throttle_limit;
	p->min = cfg->runtime.boot_cpus;
	p->max = cfg->runtime.max_cpus;
	p->step = 1;
	p->margin = 0;
	p->interval_ms = h->monitor_interval_ms;
}

void
hp_params_mem(struct hp_params *p, const struct qb_config *cfg)
{
	const struct qb_hotplug_config *h = &cfg->memory_hotplug;

	p->up_threshold = h->scale_up_threshold;
	p->down_threshold = h->scale_down_threshold;
	p->up_stability = h->scale_up_stability.samples;
	p->down_stability = h->scale_down_stability.samples;
	p->up_cooldown_ms = h->scale_up_cooldown_ms;
	p->down_cooldown_ms = h->scale_down_cooldown_ms;
	p->scale_down = h->enable_scale_down;
	p->throttle_limit = 0;
	p->min = cfg->runtime.memory_mb;
	p->max = cfg->runtime.max_memory_mb;
	p->step = h->increment_size_mb;
	p->margin = h->oom_safety_margin_mb;
	p->interval_ms = h->monitor_interval_ms;
}

static unsigned
run(unsigned n, int hit)
{
	if (!hit)
		return 0;
	return n < UINT_MAX ? n + 1 : n;
}

static int
cooled(const struct hp_state *st, uint64_t now, uint64_t cooldown)
{
	return !st->changed || now < st->last_change_ms ||
	       now - st->last_change_ms >= cooldown;
}

/* The part both resources share: streaks, bounds, cooldowns. */
static enum hp_decision
decide(const struct hp_params *p, struct hp_state *st, uint64_t now, int high,
    int low, int can_up, int can_down)
{
	st->high_run = run(st->high_run, high);
	st->low_run = run(st->low_run, low);
	if (can_up && st->high_run >= p->up_stability &&
	    cooled(st, now, p->up_cooldown_ms))
		return HP_UP;
	if (p->scale_down && can_down && st->low_run >= p->down_stability &&
	    cooled(st, now, p->down_cooldown_ms))
		return HP_DOWN;
	return HP_HOLD;
}

enum hp_decision
hp_cpu_decide(const struct hp_params *p, struct hp_state *st,
    const struct hp_cpu_sample *s)
{
	double projected;
	int low = 0;

	if (s->online == 0)
		return HP_HOLD; /* a broken sample: decide nothing on it */
	if (p->throttle_limit > 0 && s->throttled_pct >= p->throttle_limit) {
		st->high_run = st->low_run = 0;
		return HP_HOLD;
	}
	if (s->online > 1) {
		projected = s->busy_pct * s->online / (s->online - 1);
		low = projected <= p->down_threshold;
	}
	return decide(p, st, s->now_ms, s->busy_pct >= p->up_threshold, low,
	    s->plugged + p->step <= p->max,
	    s->plugged >= p->min + p->step && s->online > 1);
}

enum hp_decision
hp_mem_decide(const struct hp_params *p, struct hp_state *st,
    const struct hp_mem_sample *s)
{
	double pct;
	unsigned after;
	int high, low = 0;

	if (s->total_mb == 0 || s->used_mb > s->total_mb)
		return HP_HOLD;
	pct = 100.0 * s->used_mb / s->total_mb;
	high = pct >= p->up_threshold || s->total_mb - s->used_mb < p->margin;
	if (s->total_mb > p->step) {
		after = s->total_mb - p->step;
		low = 100.0 * s->used_mb / after <= p->down_threshold &&
		      after >= s->used_mb + p->margin;
	}
	return decide(p, st, s->now_ms, high, low,
	    s->plugged_mb + p->step <= p->max,
	    s->plugged_mb >= p->min + p->step);
}

void
hp_note_change(struct hp_state *st, uint64_t now_ms)
{
	st->high_run = st->low_run = 0;
	st->changed = true;
	st->last_change_ms = now_ms;
}

const char *
hp_decision_name(enum hp_decision d)
{
	switch (d) {
	case HP_UP:
		return "up";
	case HP_DOWN:
		return "down";
	case HP_HOLD:
		break;
	}
	return "hold";
}

/* obj.a.b as an int64, if present; -1 on a wrong type. */
static int
get_i64(json_object *obj, const char *a, const char *b, int64_t *v, bool *have)
{
	json_object *sec, *val;

	*have = false;
	if (!json_object_object_get_ex(obj, a, &sec) || sec == NULL)
		return 0;
	if (!json_object_is_type(sec, json_type_object))
		return -1;
	if (!json_object_object_get_ex(sec, b, &val) || val == NULL)
		return 0;
	if (!json_object_is_type(val, json_type_int))
		return -1;
	*v = json_object_get_int64(val);
	*have = true;
	return 0;
}

int
hp_update_target(const char *json, size_t len, const struct qb_config *cfg,
    unsigned *cpus, unsigned *mem_mb, struct qb_error *err)
{
	json_tokener *tok;
	json_object *root;
	int64_t quota = 0, period = 0, limit = 0;
	bool hq, hp, hl;
	uint64_t want, step = cfg->memory_hotplug.increment_size_mb;
	int rc = -1;

	*cpus = *mem_mb = 0;
	if ((tok = json_tokener_new()) == NULL)
		return qb_seterr(err, QB_E_INTERNAL, "out of memory");
	root = json_tokener_parse_ex(tok, json, (int)len);
	json_tokener_free(tok);
	if (root == NULL || !json_object_is_type(root, json_type_object)) {
		qb_seterr(err, QB_E_INVALID,
		    "update: resources are not a JSON "
		    "object");
		goto out;
	}
	if (get_i64(root, "cpu", "quota", &quota, &hq) == -1 ||
	    get_i64(root, "cpu", "period", &period, &hp) == -1 ||
	    get_i64(root, "memory", "limit", &limit, &hl) == -1) {
		qb_seterr(err, QB_E_INVALID,
		    "update: cpu.quota, cpu.period and memory.limit must be "
		    "integers");
		goto out;
	}
	if (hq && quota > 0) {
		if (!hp || period <= 0)
			period = 100000; /* the kernel's default period */
		want = cfg->runtime.boot_cpus +
		       (uint64_t)((quota + period - 1) / period);
		*cpus = want < cfg->runtime.max_cpus ? (unsigned)want
		                                     : cfg->runtime.max_cpus;
	}
	if (hl && limit > 0) {
		want = ((uint64_t)limit + (1 << 20) - 1) >> 20;
		want = (want + step - 1) / step * step;
		want += cfg->runtime.memory_mb;
		*mem_mb = want < cfg->runtime.max_memory_mb
		              ? (unsigned)want
		              : cfg->runtime.max_memory_mb;
	}
	rc = 0;
out:
	json_object_put(root);
	return rc;
}
