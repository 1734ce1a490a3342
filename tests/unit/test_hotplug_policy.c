/*
 * The hotplug policy as a pure function: samples in, decisions out
 * (shim/hotplug_policy.h). Each test drives a clock of its own.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "lib/config.h"
#include "shim/hotplug_policy.h"

#define IVL 5000 /* ms between samples */

static struct hp_params
cpu_params(void)
{
	struct hp_params p = {
	    .up_threshold = 80.0,
	    .down_threshold = 50.0,
	    .up_stability = 2,
	    .down_stability = 3,
	    .up_cooldown_ms = 10000,
	    .down_cooldown_ms = 30000,
	    .scale_down = true,
	    .throttle_limit = 5.0,
	    .min = 1,
	    .max = 4,
	    .step = 1,
	};
	return p;
}

static struct hp_cpu_sample
cpu(uint64_t t, unsigned n, double busy)
{
	struct hp_cpu_sample s = {
	    .now_ms = t, .plugged = n, .online = n, .busy_pct = busy};
	return s;
}

static void
test_cpu_needs_stability(void **state)
{
	struct hp_params p = cpu_params();
	struct hp_state st = {0};
	struct hp_cpu_sample s;

	(void)state;
	s = cpu(0, 1, 95.0);
	assert_int_equal(hp_cpu_decide(&p, &st, &s), HP_HOLD);
	/* A low sample breaks the streak. */
	s = cpu(IVL, 1, 10.0);
	assert_int_equal(hp_cpu_decide(&p, &st, &s), HP_HOLD);
	s = cpu(2 * IVL, 1, 95.0);
	assert_int_equal(hp_cpu_decide(&p, &st, &s), HP_HOLD);
	s = cpu(3 * IVL, 1, 80.0); /* "at or above" */
	assert_int_equal(hp_cpu_decide(&p, &st, &s), HP_UP);
}

static void
test_cpu_cooldown(void **state)
{
	struct hp_params p = cpu_params();
	struct hp_state st = {0};
	struct hp_cpu_sample s;
	uint64_t t = 100000;

	(void)state;
	hp_note_change(&st, t);
	s = cpu(t + 4000, 2, 99.0);
	assert_int_equal(hp_cpu_decide(&p, &st, &s), HP_HOLD);
	s = cpu(t + 9999, 2, 99.0); /* stable, still cooling down */
	assert_int_equal(hp_cpu_decide(&p, &st, &s), HP_HOLD);
	s = cpu(t + 10000, 2, 99.0);
	assert_int_equal(hp_cpu_decide(&p, &st, &s), HP_UP);
	hp_note_change(&st, t + 10000);
	/* Idle right after: scale-down waits its own, longer cooldown. */
	s = cpu(t + 15000, 3, 1.0);
	assert_int_equal(hp_cpu_decide(&p, &st, &s), HP_HOLD);
	s = cpu(t + 20000, 3, 1.0);
	assert_int_equal(hp_cpu_decide(&p, &st, &s), HP_HOLD);
	s = cpu(t + 25000, 3, 1.0); /* 3 low samples, 15 s since the change */
	assert_int_equal(hp_cpu_decide(&p, &st, &s), HP_HOLD);
	s = cpu(t + 40000, 3, 1.0);
	assert_int_equal(hp_cpu_decide(&p, &st, &s), HP_DOWN);
}

static void
test_cpu_bounds(void **state)
{
	struct hp_params p = cpu_params();
	struct hp_state st = {0};
	struct hp_cpu_sample s;
	int i;

	(void)state;
	for (i = 0; i < 20; i++) {
		s = cpu((uint64_t)i * IVL, 4, 100.0); /* at max */
		assert_int_equal(hp_cpu_decide(&p, &st, &s), HP_HOLD);
	}
	memset(&st, 0, sizeof(st));
	for (i = 0; i < 20; i++) {
		s = cpu((uint64_t)i * IVL, 1, 0.0); /* at min */
		assert_int_equal(hp_cpu_decide(&p, &st, &s), HP_HOLD);
	}
	/* Plugged at max but the guest shows fewer online: still no add. */
	memset(&st, 0, sizeof(st));
	s = cpu(0, 4, 100.0);
	s.online = 2;
	assert_int_equal(hp_cpu_decide(&p, &st, &s), HP_HOLD);
	assert_int_equal(hp_cpu_decide(&p, &st, &s), HP_HOLD);
}

static void
test_cpu_projected_scale_down(void **state)
{
	struct hp_params p = cpu_params();
	struct hp_state st = {0};
	struct hp_cpu_sample s;
	int i;

	(void)state;
	/* 2 vCPUs 30% busy would be 60% on one: above 50, no scale-down. */
	for (i = 0; i < 10; i++) {
		s = cpu((uint64_t)i * IVL, 2, 30.0);
		assert_int_equal(hp_cpu_decide(&p, &st, &s), HP_HOLD);
	}
	/* 25% -> 50% projected: at the threshold, down after 3 samples. */
	for (i = 0; i < 2; i++) {
		s = cpu((uint64_t)(10 + i) * IVL, 2, 25.0);
		assert_int_equal(hp_cpu_decide(&p, &st, &s), HP_HOLD);
	}
	s = cpu(12 * IVL, 2, 25.0);
	assert_int_equal(hp_cpu_decide(&p, &st, &s), HP_DOWN);
	/* Disabled: never. */
	p.scale_down = false;
	memset(&st, 0, sizeof(st));
	for (i = 0; i < 10; i++) {
		s = cpu((uint64_t)i * IVL, 2, 0.0);
		assert_int_equal(hp_cpu_decide(&p, &st, &s), HP_HOLD);
	}
}

static void
test_cpu_throttled_holds(void **state)
{
	struct hp_params p = cpu_params();
	struct hp_state st = {0};
	struct hp_cpu_sample s;

	(void)state;
	s = cpu(0, 1, 99.0);
	assert_int_equal(hp_cpu_decide(&p, &st, &s), HP_HOLD);
	s = cpu(IVL, 1, 99.0);
	s.throttled_pct = 5.0; /* at the limit: quota-bound, hold */
	assert_int_equal(hp_cpu_decide(&p, &st, &s), HP_HOLD);
	s = cpu(2 * IVL, 1, 99.0); /* the streak started over */
	assert_int_equal(hp_cpu_decide(&p, &st, &s), HP_HOLD);
	s = cpu(3 * IVL, 1, 99.0);
	s.throttled_pct = 4.9;
	assert_int_equal(hp_cpu_decide(&p, &st, &s), HP_UP);
	/* Limit 0 turns the check off. */
	p.throttle_limit = 0;
	memset(&st, 0, sizeof(st));
	s = cpu(0, 1, 99.0);
	s.throttled_pct = 90.0;
	assert_int_equal(hp_cpu_decide(&p, &st, &s), HP_HOLD);
	assert_int_equal(hp_cpu_decide(&p, &st, &s), HP_UP);
}

/* Input that flips every sample never satisfies a streak of 2 or 3. */
static void
test_cpu_flapping(void **state)
{
	struct hp_params p = cpu_params();
	struct hp_state st = {0};
	struct hp_cpu_sample s;
	int i;

	(void)state;
	for (i = 0; i < 200; i++) {
		s = cpu((uint64_t)i * IVL, 2, i % 2 ? 100.0 : 0.0);
		assert_int_equal(hp_cpu_decide(&p, &st, &s), HP_HOLD);
	}
}

/* With streaks of 1, flapping changes at most once per cooldown. */
static void
test_cpu_flapping_bounded_by_cooldown(void **state)
{
	struct hp_params p = cpu_params();
	struct hp_state st = {0};
	struct hp_cpu_sample s;
	unsigned n = 2, changes = 0;
	int i;

	(void)state;
	p.up_stability = p.down_stability = 1;
	p.up_cooldown_ms = p.down_cooldown_ms = 60000;
	for (i = 0; i < 120; i++) { /* 10 minutes */
		enum hp_decision d;

		s = cpu((uint64_t)i * IVL, n, i % 2 ? 100.0 : 0.0);
		d = hp_cpu_decide(&p, &st, &s);
		if (d != HP_HOLD) {
			n = d == HP_UP ? n + 1 : n - 1;
			hp_note_change(&st, s.now_ms);
			changes++;
		}
	}
	assert_true(changes >= 2);
	assert_true(changes <= 10);
}

static void
test_cpu_bad_sample(void **state)
{
	struct hp_params p = cpu_params();
	struct hp_state st = {0};
	struct hp_cpu_sample s = cpu(0, 1, 100.0);

	(void)state;
	s.online = 0;
	assert_int_equal(hp_cpu_decide(&p, &st, &s), HP_HOLD);
	assert_int_equal(hp_cpu_decide(&p, &st, &s), HP_HOLD);
	assert_int_equal(hp_cpu_decide(&p, &st, &s), HP_HOLD);
}

static struct hp_params
mem_params(void)
{
	struct hp_params p = {
	    .up_threshold = 85.0,
	    .down_threshold = 60.0,
	    .up_stability = 3,
	    .down_stability = 2,
	    .up_cooldown_ms = 30000,
	    .down_cooldown_ms = 60000,
	    .scale_down = true,
	    .min = 512,
	    .max = 1024,
	    .step = 128,
	    .margin = 128,
	};
	return p;
}

static struct hp_mem_sample
mem(uint64_t t, unsigned plugged, unsigned total, unsigned used)
{
	struct hp_mem_sample s = {.now_ms = t,
	    .plugged_mb = plugged,
	    .total_mb = total,
	    .used_mb = used};
	return s;
}

static void
test_mem_up_by_threshold_and_margin(void **state)
{
	struct hp_params p = mem_params();
	struct hp_state st = {0};
	struct hp_mem_sample s;

	(void)state;
	/* 400 of 480 = 83%: below 85, and 80 free < 128 margin: high. */
	s = mem(0, 512, 480, 400);
	assert_int_equal(hp_mem_decide(&p, &st, &s), HP_HOLD);
	assert_int_equal(hp_mem_decide(&p, &st, &s), HP_HOLD);
	assert_int_equal(hp_mem_decide(&p, &st, &s), HP_UP);
	/* 300 of 480 = 62%, 180 free: not high. */
	memset(&st, 0, sizeof(st));
	s = mem(0, 512, 480, 300);
	assert_int_equal(hp_mem_decide(&p, &st, &s), HP_HOLD);
	assert_int_equal(hp_mem_decide(&p, &st, &s), HP_HOLD);
	assert_int_equal(hp_mem_decide(&p, &st, &s), HP_HOLD);
	/* At max: never up. */
	memset(&st, 0, sizeof(st));
	s = mem(0, 1024, 990, 980);
	assert_int_equal(hp_mem_decide(&p, &st, &s), HP_HOLD);
	assert_int_equal(hp_mem_decide(&p, &st, &s), HP_HOLD);
	assert_int_equal(hp_mem_decide(&p, &st, &s), HP_HOLD);
	/* 128 MiB short of max: one more step fits. */
	memset(&st, 0, sizeof(st));
	s = mem(0, 896, 860, 850);
	assert_int_equal(hp_mem_decide(&p, &st, &s), HP_HOLD);
	assert_int_equal(hp_mem_decide(&p, &st, &s), HP_HOLD);
	assert_int_equal(hp_mem_decide(&p, &st, &s), HP_UP);
}

static void
test_mem_down_keeps_margin(void **state)
{
	struct hp_params p = mem_params();
	struct hp_state st = {0};
	struct hp_mem_sample s;

	(void)state;
	/* 768 plugged, 740 online, 200 used: 200/612 = 33%, 412 free after. */
	s = mem(0, 768, 740, 200);
	assert_int_equal(hp_mem_decide(&p, &st, &s), HP_HOLD);
	assert_int_equal(hp_mem_decide(&p, &st, &s), HP_DOWN);
	/* Low percentage but the step would eat the margin: 60% threshold
	 * raised to 99 to isolate the margin rule. */
	p.down_threshold = 80.0;
	p.up_threshold = 99.0;
	memset(&st, 0, sizeof(st));
	s = mem(0, 768, 740, 500); /* after: 612 < 500 + 128 */
	assert_int_equal(hp_mem_decide(&p, &st, &s), HP_HOLD);
	assert_int_equal(hp_mem_decide(&p, &st, &s), HP_HOLD);
	assert_int_equal(hp_mem_decide(&p, &st, &s), HP_HOLD);
	/* At the boot size: never below it. */
	p = mem_params();
	memset(&st, 0, sizeof(st));
	s = mem(0, 512, 480, 10);
	assert_int_equal(hp_mem_decide(&p, &st, &s), HP_HOLD);
	assert_int_equal(hp_mem_decide(&p, &st, &s), HP_HOLD);
	assert_int_equal(hp_mem_decide(&p, &st, &s), HP_HOLD);
}

static void
test_mem_bad_sample(void **state)
{
	struct hp_params p = mem_params();
	struct hp_state st = {0};
	struct hp_mem_sample s = mem(0, 512, 480, 481);
	int i;

	(void)state;
	for (i = 0; i < 5; i++)
		assert_int_equal(hp_mem_decide(&p, &st, &s), HP_HOLD);
	s = mem(0, 512, 0, 0);
	for (i = 0; i < 5; i++)
		assert_int_equal(hp_mem_decide(&p, &st, &s), HP_HOLD);
}

/* The parameters come from the config: the seed's defaults and bounds. */
static void
test_params_from_config(void **state)
{
	struct qb_config cfg;
	struct hp_params p;

	(void)state;
	qb_config_defaults(&cfg);
	cfg.runtime.boot_cpus = 1;
	cfg.runtime.max_cpus = 2;
	cfg.runtime.memory_mb = 512;
	cfg.runtime.max_memory_mb = 1536;
	hp_params_cpu(&p, &cfg);
	assert_true(p.up_threshold == 80.0);
	assert_int_equal(p.up_stability, 2);
	assert_int_equal(p.down_stability, 6);
	assert_int_equal(p.min, 1);
	assert_int_equal(p.max, 2);
	assert_int_equal(p.step, 1);
	assert_int_equal(p.interval_ms, 5000);
	assert_true(p.scale_down);
	hp_params_mem(&p, &cfg);
	assert_true(p.up_threshold == 85.0);
	assert_int_equal(p.step, 128);
	assert_int_equal(p.margin, 128);
	assert_int_equal(p.interval_ms, 10000);
	assert_int_equal(p.min, 512);
	assert_int_equal(p.max, 1536);
	assert_false(p.scale_down);
	assert_string_equal(hp_decision_name(HP_UP), "up");
	assert_string_equal(hp_decision_name(HP_DOWN), "down");
	assert_string_equal(hp_decision_name(HP_HOLD), "hold");
}

static void
test_update_target(void **state)
{
	struct qb_config cfg;
	struct qb_error err;
	unsigned cpus, mem;
	const char *j;

	(void)state;
	qb_config_defaults(&cfg);
	cfg.runtime.boot_cpus = 1;
	cfg.runtime.max_cpus = 4;
	cfg.runtime.memory_mb = 512;
	cfg.runtime.max_memory_mb = 2048;
	/* 1.5 CPUs, 300 MiB: 1 + 2 vCPUs, 512 + 384 MiB (3 increments). */
	j = "{\"cpu\":{\"quota\":150000,\"period\":100000},"
	    "\"memory\":{\"limit\":314572800}}";
	assert_int_equal(
	    hp_update_target(j, strlen(j), &cfg, &cpus, &mem, &err), 0);
	assert_int_equal(cpus, 3);
	assert_int_equal(mem, 896);
	/* Capped at the maxima; no period means the kernel's 100 ms. */
	j = "{\"cpu\":{\"quota\":1000000},\"memory\":{\"limit\":"
	    "10737418240}}";
	assert_int_equal(
	    hp_update_target(j, strlen(j), &cfg, &cpus, &mem, &err), 0);
	assert_int_equal(cpus, 4);
	assert_int_equal(mem, 2048);
	/* Unlimited (-1 quota, no memory): leave both. */
	j = "{\"cpu\":{\"quota\":-1,\"shares\":1024}}";
	assert_int_equal(
	    hp_update_target(j, strlen(j), &cfg, &cpus, &mem, &err), 0);
	assert_int_equal(cpus, 0);
	assert_int_equal(mem, 0);
	/* Wrong types are errors, not zeros. */
	j = "{\"memory\":{\"limit\":\"300M\"}}";
	assert_int_equal(
	    hp_update_target(j, strlen(j), &cfg, &cpus, &mem, &err), -1);
	assert_non_null(strstr(err.msg, "memory.limit"));
	j = "[1]";
	assert_int_equal(
	    hp_update_target(j, strlen(j), &cfg, &cpus, &mem, &err), -1);
	j = "{\"cpu\":";
	assert_int_equal(
	    hp_update_target(j, strlen(j), &cfg, &cpus, &mem, &err), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cpu_needs_stability),
	    cmocka_unit_test(test_cpu_cooldown),
	    cmocka_unit_test(test_cpu_bounds),
	    cmocka_unit_test(test_cpu_projected_scale_down),
	    cmocka_unit_test(test_cpu_throttled_holds),
	    cmocka_unit_test(test_cpu_flapping),
	    cmocka_unit_test(test_cpu_flapping_bounded_by_cooldown),
	    cmocka_unit_test(test_cpu_bad_sample),
	    cmocka_unit_test(test_mem_up_by_threshold_and_margin),
	    cmocka_unit_test(test_mem_down_keeps_margin),
	    cmocka_unit_test(test_mem_bad_sample),
	    cmocka_unit_test(test_params_from_config),
	    cmocka_unit_test(test_update_target),
	};

	return cmocka_run_group_tests_name("hotplug_policy", tests, NULL, NULL);
}
