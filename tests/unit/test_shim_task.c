/* Task service core against a fake asynchronous backend. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/wait.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shim/task_service.h"

/* ---- fake backend: ops complete when the test says so ---- */

struct pending {
	backend_done_fn done;
	void *arg;
	char what[64];
};
static struct pending pend[16];
static int npend;
static uint32_t next_pid = 100;

static void
queue(const char *what, backend_done_fn done, void *arg)
{
	assert_true(npend < 16);
	snprintf(pend[npend].what, sizeof(pend[npend].what), "%s", what);
	pend[npend].done = done;
	pend[npend].arg = arg;
	npend++;
}

/* Complete the oldest pending op named `what` with pid (or an error). */
static void
complete(const char *what, uint32_t pid, int code)
{
	struct backend_result res = {.pid = pid};
	struct qb_error err = {.code = code};
	struct pending p;
	int i;

	for (i = 0; i < npend; i++)
		if (strcmp(pend[i].what, what) == 0)
			break;
	assert_true(i < npend);
	p = pend[i];
	memmove(&pend[i], &pend[i + 1], (size_t)(npend - i - 1) * sizeof(p));
	npend--;
	snprintf(err.msg, sizeof(err.msg), "fake %s failed", what);
	p.done(p.arg, &res, code ? &err : NULL);
}

static void
fb_create(void *st, const struct backend_create_req *req, backend_done_fn done,
    void *arg)
{
	(void)st;
	(void)req;
	queue("create", done, arg);
}

static void
fb_start(void *st, const char *id, const char *exec_id, backend_done_fn done,
    void *arg)
{
	(void)st;
	(void)id;
	(void)exec_id;
	queue("start", done, arg);
}

static void
fb_exec(void *st, const struct backend_exec_req *req, backend_done_fn done,
    void *arg)
{
	(void)st;
	(void)req;
	queue("exec", done, arg);
}

static void
fb_now(void *st, const char *id, const char *exec_id, backend_done_fn done,
    void *arg)
{
	(void)st;
	(void)id;
	(void)exec_id;
	done(arg, NULL, NULL); /* synchronous completion is allowed */
}

static void
fb_kill(void *st, const char *id, const char *exec_id, uint32_t sig, bool all,
    backend_done_fn done, void *arg)
{
	(void)sig;
	(void)all;
	fb_now(st, id, exec_id, done, arg);
}

static const struct backend_ops fake_ops = {
    .name = "fake",
    .create = fb_create,
    .start = fb_start,
    .delete = fb_now,
    .exec = fb_exec,
    .kill = fb_kill,
};

/* ---- recorders ---- */

struct rec {
	int calls;
	int code; /* 0 = ok */
	char msg[1024];
	struct ts_answer ans;
};

static void
record(void *arg, const struct ts_answer *ans, const struct qb_error *err)
{
	struct rec *r = arg;

	r->calls++;
	r->code = err ? err->code : 0;
	snprintf(r->msg, sizeof(r->msg), "%s", err ? err->msg : "");
	if (ans != NULL)
		r->ans = *ans;
}

static char evlog[2048];
static void
on_event(void *arg, const struct ts_event *ev)
{
	static const char *const names[] = {"create", "start", "exit", "delete",
	    "oom", "exec-added", "exec-started", "paused", "resumed"};
	size_t l = strlen(evlog);

	(void)arg;
	snprintf(evlog + l, sizeof(evlog) - l, "%s(%s,%s,%u,%u) ",
	    names[ev->kind], ev->container_id, ev->id, ev->pid,
	    ev->exit_status);
}

static int exits;
static void
on_exit_cb(void *arg)
{
	(void)arg;
	exits++;
}

static struct task_service *
svc_new(const struct backend_ops *ops, const char *missing)
{
	npend = 0;
	evlog[0] = '\0';
	exits = 0;
	return task_service_new(
	    ops, NULL, missing, on_event, NULL, on_exit_cb, NULL);
}

static struct backend_create_req
create_req(const char *id)
{
	struct backend_create_req r;

	memset(&r, 0, sizeof(r));
	r.ns = "default";
	r.id = id;
	r.bundle = "/run/b";
	r.io.stdout_path = "/fifo/out";
	return r;
}

static void
test_no_backend(void **state)
{
	struct task_service *svc = svc_new(NULL, NULL);
	struct backend_create_req req = create_req("c1");
	struct rec r = {0};

	(void)state;
	ts_create(svc, &req, record, &r);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.code, 12); /* Unimplemented */
	assert_non_null(strstr(r.msg, "vm_backend"));
	assert_int_equal(task_service_count(svc), 0);
	task_service_free(svc);

	svc = svc_new(&fake_ops, "qemubox-vmmon not found: "
	                         "/usr/libexec/qemubox/qemubox-vmmon");
	memset(&r, 0, sizeof(r));
	ts_create(svc, &req, record, &r);
	assert_int_equal(r.code, 9);
	assert_non_null(strstr(r.msg, "/usr/libexec/qemubox/qemubox-vmmon"));
	task_service_free(svc);
}

static void
test_lifecycle_and_events(void **state)
{
	struct task_service *svc = svc_new(&fake_ops, NULL);
	struct backend_create_req req = create_req("c1");
	struct rec cr = {0}, dup = {0}, st = {0}, sr = {0}, w = {0}, k = {0},
	           d = {0}, sh = {0};
	struct timespec at = {1700000000, 42};

	(void)state;
	ts_create(svc, &req, record, &cr);
	assert_int_equal(cr.calls, 0); /* deferred until the backend is done */
	ts_create(svc, &req, record, &dup);
	assert_int_equal(dup.code, 6); /* AlreadyExists */
	ts_state(svc, "c1", "", record, &st);
	assert_int_equal(st.code, 5); /* not created yet */
	complete("create", next_pid, 0);
	assert_int_equal(cr.calls, 1);
	assert_int_equal(cr.code, 0);
	assert_int_equal(cr.ans.pid, 100);

	memset(&st, 0, sizeof(st));
	ts_state(svc, "c1", NULL, record, &st);
	assert_int_equal(st.ans.status, TS_CREATED);
	assert_string_equal(st.ans.bundle, "/run/b");
	assert_string_equal(st.ans.stdout_path, "/fifo/out");

	ts_wait(svc, "c1", "", record, &w);
	ts_start(svc, "c1", "", record, &sr);
	/* The process dies before Start's answer: its exit is held back. */
	task_service_exited(
	    svc, "c1", "", 100, ts_exit_status_from_wait(9), &at);
	assert_int_equal(w.calls, 0);
	complete("start", 100, 0);
	assert_int_equal(sr.code, 0);
	assert_int_equal(w.calls, 1);
	assert_int_equal(w.ans.exit_status, 137);
	assert_int_equal(w.ans.exited_at.tv_sec, 1700000000);
	assert_int_equal(w.ans.exited_at.tv_nsec, 42);

	ts_kill(svc, "c1", "", 9, false, record, &k);
	assert_int_equal(k.code, 5); /* already finished */

	ts_shutdown(svc, "c1", false, record, &sh);
	assert_int_equal(sh.code, 0);
	assert_int_equal(exits, 0); /* c1 still exists */

	ts_delete(svc, "c1", "", record, &d);
	assert_int_equal(d.code, 0);
	assert_int_equal(d.ans.exit_status, 137);
	assert_int_equal(d.ans.pid, 100);
	assert_int_equal(task_service_count(svc), 0);
	assert_string_equal(evlog, "create(c1,,100,0) start(c1,,100,0) "
	                           "exit(c1,c1,100,137) delete(c1,,100,137) ");

	memset(&sh, 0, sizeof(sh));
	ts_shutdown(svc, "c1", false, record, &sh);
	assert_int_equal(exits, 1);
	task_service_free(svc);
}

static void
test_exec(void **state)
{
	struct task_service *svc = svc_new(&fake_ops, NULL);
	struct backend_create_req req = create_req("c1");
	struct backend_exec_req ex = {
	    .ns = "default", .id = "c1", .exec_id = "e1"};
	struct rec r = {0}, e = {0}, k = {0}, d = {0}, w = {0};

	(void)state;
	ts_create(svc, &req, record, &r);
	complete("create", 7, 0);
	ts_start(svc, "c1", "", record, &r);
	complete("start", 7, 0);

	ts_exec(svc, &ex, record, &e);
	complete("exec", 0, 0);
	assert_int_equal(e.code, 0);
	memset(&e, 0, sizeof(e));
	ts_exec(svc, &ex, record, &e);
	assert_int_equal(e.code, 6); /* duplicate exec id */

	ts_kill(svc, "c1", "e1", 15, false, record, &k);
	assert_int_equal(k.code, 9); /* exec not started */
	ts_state(svc, "c1", "nope", record, &r);
	assert_int_equal(r.code, 5);
	ts_state(svc, "other", "", record, &r);
	assert_int_equal(r.code, 5);

	ts_start(svc, "c1", "e1", record, &r);
	complete("start", 8, 0);
	assert_int_equal(r.ans.pid, 8);
	ts_delete(svc, "c1", "e1", record, &d);
	assert_int_equal(d.code, 9); /* still running */
	ts_wait(svc, "c1", "e1", record, &w);
	task_service_exited(svc, "c1", "e1", 8, 3, NULL);
	assert_int_equal(w.ans.exit_status, 3);
	memset(&d, 0, sizeof(d));
	ts_delete(svc, "c1", "e1", record, &d);
	assert_int_equal(d.code, 0);
	assert_int_equal(d.ans.exit_status, 3);
	assert_string_equal(evlog,
	    "create(c1,,7,0) start(c1,,7,0) "
	    "exec-added(c1,e1,0,0) exec-started(c1,e1,8,0) exit(c1,e1,8,3) "
	    "delete(c1,e1,8,3) ");

	/* An exec whose Start fails releases the Wait parked on it. */
	ex.exec_id = "e2";
	memset(&e, 0, sizeof(e));
	ts_exec(svc, &ex, record, &e);
	complete("exec", 0, 0);
	memset(&w, 0, sizeof(w));
	ts_wait(svc, "c1", "e2", record, &w);
	assert_int_equal(w.calls, 0);
	memset(&r, 0, sizeof(r));
	ts_start(svc, "c1", "e2", record, &r);
	complete("start", 0, 2);
	assert_int_equal(r.code, 2);
	assert_int_equal(w.calls, 1);
	assert_int_equal(w.code, 2);
	assert_string_equal(w.msg, "fake start failed");
	memset(&d, 0, sizeof(d));
	ts_delete(svc, "c1", "e2", record, &d);
	assert_int_equal(d.code, 0);
	task_service_free(svc);
}

static void
test_unimplemented_and_failures(void **state)
{
	struct task_service *svc = svc_new(&fake_ops, NULL);
	struct backend_create_req req = create_req("c1");
	struct rec r = {0};

	(void)state;
	ts_create(svc, &req, record, &r);
	complete("create", 0, 13);
	assert_int_equal(r.code, 13);
	assert_string_equal(r.msg, "fake create failed");
	assert_int_equal(task_service_count(svc), 0);
	assert_string_equal(evlog, ""); /* no TaskCreate for a failed create */

	ts_create(svc, &req, record, &r);
	complete("create", 5, 0);
	ts_stats(svc, "c1", record, &r);
	assert_int_equal(r.code, 12);
	ts_pause(svc, "c1", record, &r);
	assert_int_equal(r.code, 12);
	ts_pids(svc, "c1", record, &r);
	assert_int_equal(r.code, 12);
	ts_connect(svc, "c1", record, &r);
	assert_int_equal(r.code, 0);
	assert_int_equal(r.ans.task_pid, 5);
	assert_true(r.ans.shim_pid > 0);
	/* A pending Wait is answered NotFound when its process is deleted
	 * (never started: delete of a created init is allowed). */
	{
		struct rec w = {0}, d = {0};
		ts_wait(svc, "c1", "", record, &w);
		ts_delete(svc, "c1", "", record, &d);
		assert_int_equal(d.code, 0);
		assert_int_equal(w.code, 5);
	}
	task_service_free(svc);
}

static void
test_exit_status_mapping(void **state)
{
	(void)state;
	assert_int_equal(ts_exit_status_from_wait(0), 0);
	assert_int_equal(ts_exit_status_from_wait(3 << 8), 3);
	assert_int_equal(ts_exit_status_from_wait(255 << 8), 255);
	assert_int_equal(ts_exit_status_from_wait(9), 137);        /* SIGKILL */
	assert_int_equal(ts_exit_status_from_wait(15), 143);       /* SIGTERM */
	assert_int_equal(ts_exit_status_from_wait(6 | 0x80), 134); /* core */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_no_backend),
	    cmocka_unit_test(test_lifecycle_and_events),
	    cmocka_unit_test(test_exec),
	    cmocka_unit_test(test_unimplemented_and_failures),
	    cmocka_unit_test(test_exit_status_mapping),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
