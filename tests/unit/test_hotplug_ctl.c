/*
 * The hotplug controller with a fake sandbox: a model guest whose load the
 * test sets, answering samples and steps through the real event loop.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "lib/config.h"
#include "lib/evloop.h"
#include "shim/hotplug_ctl.h"

struct fake {
	struct evloop *loop;
	struct hotplug_ctl *ctl;
	unsigned cpus, mem_mb;
	double load;      /* busy fraction of all vCPUs */
	unsigned used_mb; /* guest memory in use */
	uint64_t busy, total;
	int samples, steps_up, steps_down;
	bool fail_steps;
	bool answer_later; /* answer samples from a deferred callback */
};

static void
answer(struct fake *f, enum hp_resource res)
{
	struct hp_guest_sample s = {0};
	uint64_t tick = 100ULL * f->cpus;

	f->busy += (uint64_t)(f->load * (double)tick);
	f->total += tick;
	s.cpu_busy_ticks = f->busy;
	s.cpu_total_ticks = f->total;
	s.cpus_online = f->cpus;
	s.mem_total_kb = (uint64_t)(f->mem_mb - 32) * 1024;
	s.mem_available_kb = s.mem_total_kb - (uint64_t)f->used_mb * 1024;
	f->samples++;
	hotplug_ctl_sample(f->ctl, res, &s, NULL);
}

static struct fake *deferred_fake;
static enum hp_resource deferred_res;

static void
deferred(void *arg)
{
	(void)arg;
	answer(deferred_fake, deferred_res);
}

static int
fake_sample(void *arg, enum hp_resource res)
{
	struct fake *f = arg;

	if (f->answer_later) {
		deferred_fake = f;
		deferred_res = res;
		return evloop_defer(f->loop, deferred, NULL) ? 0 : -1;
	}
	answer(f, res);
	return 0;
}

static int
fake_step(void *arg, enum hp_resource res, int dir, unsigned amount)
{
	struct fake *f = arg;
	unsigned *have = res == HP_CPU ? &f->cpus : &f->mem_mb;

	if (f->fail_steps) {
		hotplug_ctl_step_done(f->ctl, res, false, *have, "refused");
		return 0;
	}
	*have = dir > 0 ? *have + amount : *have - amount;
	if (dir > 0)
		f->steps_up++;
	else
		f->steps_down++;
	hotplug_ctl_step_done(f->ctl, res, true, *have, NULL);
	return 0;
}

static const struct hotplug_ops fake_ops = {fake_sample, fake_step};

static void
config(struct qb_config *cfg)
{
	qb_config_defaults(cfg);
	cfg->runtime.boot_cpus = 1;
	cfg->runtime.max_cpus = 3;
	cfg->runtime.memory_mb = 512;
	cfg->runtime.max_memory_mb = 768;
	cfg->cpu_hotplug.enabled = true;
	cfg->cpu_hotplug.monitor_interval_ms = 10;
	cfg->cpu_hotplug.scale_up_stability.samples = 2;
	cfg->cpu_hotplug.scale_down_stability.samples = 3;
	cfg->cpu_hotplug.scale_up_cooldown_ms = 30;
	cfg->cpu_hotplug.scale_down_cooldown_ms = 30;
	cfg->memory_hotplug.enabled = true;
	cfg->memory_hotplug.monitor_interval_ms = 10;
	cfg->memory_hotplug.scale_up_stability.samples = 2;
	cfg->memory_hotplug.scale_up_cooldown_ms = 30;
}

static void
run_ms(struct fake *f, unsigned ms)
{
	uint64_t end = evloop_now_ns() + ms * 1000000ULL;

	while (evloop_now_ns() < end)
		evloop_run_once(f->loop, 5);
}

static void
setup_fake(struct fake *f, const struct qb_config *cfg)
{
	memset(f, 0, sizeof(*f));
	assert_non_null(f->loop = evloop_new());
	f->cpus = cfg->runtime.boot_cpus;
	f->mem_mb = cfg->runtime.memory_mb;
	f->used_mb = 100;
	assert_non_null(
	    f->ctl = hotplug_ctl_new(f->loop, cfg, &fake_ops, f, "sb1"));
}

static void
teardown_fake(struct fake *f)
{
	hotplug_ctl_free(f->ctl);
	evloop_free(f->loop);
}

static void
test_grows_to_max_and_shrinks_back(void **state)
{
	struct qb_config cfg;
	struct fake f;

	(void)state;
	config(&cfg);
	setup_fake(&f, &cfg);
	f.load = 0.99;
	run_ms(&f, 400);
	assert_int_equal(f.cpus, 3); /* capped at max_cpus */
	assert_int_equal(hotplug_ctl_plugged(f.ctl, HP_CPU), 3);
	assert_int_equal(f.steps_up, 2);
	f.load = 0.05;
	run_ms(&f, 500);
	assert_int_equal(f.cpus, 1); /* back to boot_cpus, not below */
	assert_int_equal(f.steps_down, 2);
	assert_true(f.samples > 20);
	teardown_fake(&f);
}

static void
test_memory_grows_in_increments(void **state)
{
	struct qb_config cfg;
	struct fake f;

	(void)state;
	config(&cfg);
	cfg.cpu_hotplug.enabled = false;
	cfg.runtime.max_cpus = 1;
	setup_fake(&f, &cfg);
	f.used_mb = 460; /* of 480 online: 96% */
	run_ms(&f, 300);
	/* One increment: 460 of 608 is 76%, 148 MiB free: enough. */
	assert_int_equal(f.mem_mb, 640);
	assert_int_equal(f.steps_up, 1);
	f.used_mb = 560;
	run_ms(&f, 300);
	assert_int_equal(f.mem_mb, 768);
	assert_int_equal(f.steps_up, 2);
	assert_int_equal(f.cpus, 1);
	teardown_fake(&f);
}

static void
test_failed_steps_wait_cooldown(void **state)
{
	struct qb_config cfg;
	struct fake f;

	(void)state;
	config(&cfg);
	cfg.cpu_hotplug.scale_up_cooldown_ms = 10000;
	setup_fake(&f, &cfg);
	f.fail_steps = true;
	f.load = 1.0;
	run_ms(&f, 300);
	assert_int_equal(f.cpus, 1);
	assert_int_equal(f.steps_up, 0);
	assert_int_equal(hotplug_ctl_plugged(f.ctl, HP_CPU), 1);
	teardown_fake(&f);
}

/* Removal refused for good: the controller stops trying, growth goes on. */
static void
test_no_scale_down(void **state)
{
	struct qb_config cfg;
	struct fake f;

	(void)state;
	config(&cfg);
	setup_fake(&f, &cfg);
	f.load = 0.99;
	run_ms(&f, 300);
	assert_int_equal(f.cpus, 3);
	hotplug_ctl_no_scale_down(f.ctl, HP_CPU, "test");
	f.load = 0.0;
	run_ms(&f, 400);
	assert_int_equal(f.cpus, 3);
	assert_int_equal(f.steps_down, 0);
	teardown_fake(&f);
}

static void
test_async_samples(void **state)
{
	struct qb_config cfg;
	struct fake f;

	(void)state;
	config(&cfg);
	cfg.memory_hotplug.enabled = false;
	cfg.runtime.max_memory_mb = 512;
	setup_fake(&f, &cfg);
	f.answer_later = true;
	f.load = 0.95;
	run_ms(&f, 300);
	assert_int_equal(f.cpus, 3);
	teardown_fake(&f);
}

static void
test_off_when_nothing_can_change(void **state)
{
	struct qb_config cfg;
	struct evloop *loop;

	(void)state;
	assert_non_null(loop = evloop_new());
	config(&cfg);
	cfg.runtime.max_cpus = 1;
	cfg.runtime.max_memory_mb = 512;
	assert_null(hotplug_ctl_new(loop, &cfg, &fake_ops, NULL, "sb"));
	config(&cfg);
	cfg.cpu_hotplug.enabled = false;
	cfg.memory_hotplug.enabled = false;
	assert_null(hotplug_ctl_new(loop, &cfg, &fake_ops, NULL, "sb"));
	evloop_free(loop);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_grows_to_max_and_shrinks_back),
	    cmocka_unit_test(test_memory_grows_in_increments),
	    cmocka_unit_test(test_failed_steps_wait_cooldown),
	    cmocka_unit_test(test_no_scale_down),
	    cmocka_unit_test(test_async_samples),
	    cmocka_unit_test(test_off_when_nothing_can_change),
	};

	return cmocka_run_group_tests_name("hotplug_ctl", tests, NULL, NULL);
}
