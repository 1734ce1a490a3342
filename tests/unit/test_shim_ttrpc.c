/*
 * The Task API binding (shim/task_ttrpc.c) over a real ttrpc connection
 * (socketpair, one event loop): both service names, status codes on the
 * wire, id validation, and a Wait parked while other calls are answered.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/socket.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/evloop.h"
#include "lib/ttrpc.h"
#include "proto/task.pb-c.h"
#include "shim/task_service.h"
#include "lib/qb_id.h"
#include "shim/task_ttrpc.h"

struct got {
	int done;
	int code;
	char msg[256];
	uint8_t payload[512];
	size_t len;
};

static void
on_reply(const struct ttrpc_result *res, void *arg)
{
	struct got *g = arg;

	g->done = 1;
	g->code = res->code;
	snprintf(
	    g->msg, sizeof(g->msg), "%s", res->message ? res->message : "");
	g->len = res->len < sizeof(g->payload) ? res->len : 0;
	if (g->len)
		memcpy(g->payload, res->payload, g->len);
}

struct rig {
	struct evloop *loop;
	struct ttrpc_server *srv;
	struct ttrpc_conn *client;
	struct task_service *svc;
};

/* A backend whose ops complete at once; exits come from the test. */
static void
now_done(backend_done_fn done, void *arg, uint32_t pid)
{
	struct backend_result res = {.pid = pid};

	done(arg, &res, NULL);
}
static void
fb_create(void *st, const struct backend_create_req *req, backend_done_fn done,
    void *arg)
{
	(void)st;
	(void)req;
	now_done(done, arg, 321);
}
static void
fb_any(void *st, const char *id, const char *exec_id, backend_done_fn done,
    void *arg)
{
	(void)st;
	(void)id;
	(void)exec_id;
	now_done(done, arg, 321);
}
static struct task_service *the_svc;
static void
fb_kill(void *st, const char *id, const char *exec_id, uint32_t sig, bool all,
    backend_done_fn done, void *arg)
{
	(void)st;
	(void)all;
	now_done(done, arg, 0);
	task_service_exited(the_svc, id, exec_id, 321, 128 + sig, NULL);
}
static void
fb_exec(void *st, const struct backend_exec_req *req, backend_done_fn done,
    void *arg)
{
	(void)st;
	(void)req;
	now_done(done, arg, 0);
}
static const struct backend_ops fb = {
    .name = "now",
    .create = fb_create,
    .start = fb_any,
    .delete = fb_any,
    .kill = fb_kill,
    .exec = fb_exec,
};

static void
rig_up(struct rig *r, const struct backend_ops *ops)
{
	int sv[2];

	memset(r, 0, sizeof(*r));
	assert_int_equal(
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	r->loop = evloop_new();
	r->srv = ttrpc_server_new(r->loop);
	r->svc = task_service_new(ops, NULL, NULL, NULL, NULL, NULL, NULL);
	the_svc = r->svc;
	assert_int_equal(task_ttrpc_register(r->srv, r->svc, "default"), 0);
	assert_non_null(ttrpc_conn_new(r->loop, sv[0], r->srv));
	r->client = ttrpc_conn_new(r->loop, sv[1], NULL);
	assert_non_null(r->client);
}

static void
rig_down(struct rig *r)
{
	ttrpc_conn_close(r->client);
	ttrpc_server_free(r->srv);
	task_service_free(r->svc);
	evloop_free(r->loop);
}

static void
call(struct rig *r, const char *svc, const char *method,
    const ProtobufCMessage *req, struct got *g)
{
	static const struct ttrpc_kv md[] = {
	    {"containerd-namespace-ttrpc", "ns1"}};

	memset(g, 0, sizeof(*g));
	assert_true(ttrpc_call_start(r->client, svc, method, req, 0, md, 1,
	                on_reply, g) > 0);
}

static void
run_until(struct rig *r, struct got *g)
{
	int i;

	for (i = 0; i < 200 && !g->done; i++)
		evloop_run_once(r->loop, 10);
	assert_true(g->done);
}

#define V2 "containerd.task.v2.Task"
#define V3 "containerd.task.v3.Task"

static void
test_codes_without_backend(void **state)
{
	Containerd__Task__V2__CreateTaskRequest cr;
	Containerd__Task__V2__StateRequest sr;
	struct rig r;
	struct got g;

	(void)state;
	containerd__task__v2__create_task_request__init(&cr);
	containerd__task__v2__state_request__init(&sr);
	containerd__task__v2__create_task_request__init(&cr);
	containerd__task__v2__state_request__init(&sr);
	rig_up(&r, NULL);
	cr.id = (char *)"c1";
	cr.bundle = (char *)"/b";
	call(&r, V2, "Create", &cr.base, &g);
	run_until(&r, &g);
	assert_int_equal(g.code, 12);
	assert_non_null(strstr(g.msg, "no VM backend"));

	/* v3 is the same service */
	call(&r, V3, "Create", &cr.base, &g);
	run_until(&r, &g);
	assert_int_equal(g.code, 12);

	sr.id = (char *)"nope";
	call(&r, V2, "State", &sr.base, &g);
	run_until(&r, &g);
	assert_int_equal(g.code, 5);

	/* ids end up in paths: refuse what containerd would */
	cr.id = (char *)"../x";
	call(&r, V2, "Create", &cr.base, &g);
	run_until(&r, &g);
	assert_int_equal(g.code, 3);
	sr.id = (char *)"c1";
	sr.exec_id = (char *)"bad id";
	call(&r, V2, "State", &sr.base, &g);
	run_until(&r, &g);
	assert_int_equal(g.code, 3);
	rig_down(&r);
}

static void
test_valid_ids(void **state)
{
	(void)state;
	assert_true(qb_id_valid("abc"));
	assert_true(qb_id_valid("a.b_c-d9"));
	assert_true(qb_id_valid("01234567890123456789012345678901234567890123"
	                        "45678901234567890123"));
	assert_false(qb_id_valid(""));
	assert_false(qb_id_valid("-a"));
	assert_false(qb_id_valid("a-"));
	assert_false(qb_id_valid("a..b"));
	assert_false(qb_id_valid("a/b"));
	assert_false(qb_id_valid("a b"));
	/* 64 hex digits (a CRI id) and 76 bytes pass, 77 do not. */
	assert_true(
	    qb_id_valid("0123456789abcdef0123456789abcdef0123456789abcdef"
	                "0123456789abcdef"));
	assert_true(qb_id_valid("0123456789012345678901234567890123456789012"
	                        "34567890123456789012345678901abcd"));
	assert_false(qb_id_valid("0123456789012345678901234567890123456789012"
	                         "3456789012345678901234567"
	                         "890123456"));
}

static void
test_wait_parked_while_serving(void **state)
{
	Containerd__Task__V2__CreateTaskRequest cr;
	Containerd__Task__V2__StartRequest st;
	Containerd__Task__V2__WaitRequest wr;
	Containerd__Task__V2__StateRequest sr;
	Containerd__Task__V2__KillRequest kr;
	Containerd__Task__V2__ExecProcessRequest er;
	Containerd__Task__V2__DeleteRequest dr;
	Containerd__Task__V2__WaitResponse *wresp;
	Containerd__Task__V2__StateResponse *sresp;
	Containerd__Task__V2__DeleteResponse *dresp;
	struct got g, gw;
	struct rig r;

	(void)state;
	containerd__task__v2__create_task_request__init(&cr);
	containerd__task__v2__state_request__init(&sr);
	containerd__task__v2__create_task_request__init(&cr);
	containerd__task__v2__start_request__init(&st);
	containerd__task__v2__wait_request__init(&wr);
	containerd__task__v2__state_request__init(&sr);
	containerd__task__v2__kill_request__init(&kr);
	containerd__task__v2__exec_process_request__init(&er);
	containerd__task__v2__delete_request__init(&dr);
	rig_up(&r, &fb);
	cr.id = st.id = wr.id = sr.id = kr.id = er.id = dr.id = (char *)"c1";
	cr.bundle = (char *)"/b";
	call(&r, V2, "Create", &cr.base, &g);
	run_until(&r, &g);
	assert_int_equal(g.code, 0);
	call(&r, V2, "Start", &st.base, &g);
	run_until(&r, &g);
	assert_int_equal(g.code, 0);

	call(&r, V2, "Wait", &wr.base, &gw);
	call(&r, V2, "State", &sr.base, &g);
	run_until(&r, &g);
	assert_int_equal(g.code, 0);
	assert_false(gw.done); /* still parked */
	sresp = containerd__task__v2__state_response__unpack(
	    NULL, g.len, g.payload);
	assert_non_null(sresp);
	assert_int_equal(sresp->status, CONTAINERD__V1__TYPES__STATUS__RUNNING);
	assert_int_equal(sresp->pid, 321);
	assert_string_equal(sresp->bundle, "/b");
	containerd__task__v2__state_response__free_unpacked(sresp, NULL);

	er.exec_id = (char *)"e1";
	call(&r, V2, "Exec", &er.base, &g);
	run_until(&r, &g);
	assert_int_equal(g.code, 0);
	call(&r, V2, "Exec", &er.base, &g);
	run_until(&r, &g);
	assert_int_equal(g.code, 6); /* AlreadyExists */

	kr.signal = 9;
	call(&r, V2, "Kill", &kr.base, &g);
	run_until(&r, &g);
	assert_int_equal(g.code, 0);
	run_until(&r, &gw);
	assert_int_equal(gw.code, 0);
	wresp = containerd__task__v2__wait_response__unpack(
	    NULL, gw.len, gw.payload);
	assert_non_null(wresp);
	assert_int_equal(wresp->exit_status, 137);
	assert_non_null(wresp->exited_at);
	assert_true(wresp->exited_at->seconds > 1700000000);
	containerd__task__v2__wait_response__free_unpacked(wresp, NULL);

	/* Kill of a finished process: NotFound, as CRI expects */
	call(&r, V2, "Kill", &kr.base, &g);
	run_until(&r, &g);
	assert_int_equal(g.code, 5);

	call(&r, V2, "Delete", &dr.base, &g);
	run_until(&r, &g);
	assert_int_equal(g.code, 0);
	dresp = containerd__task__v2__delete_response__unpack(
	    NULL, g.len, g.payload);
	assert_non_null(dresp);
	assert_int_equal(dresp->exit_status, 137);
	assert_int_equal(dresp->pid, 321);
	containerd__task__v2__delete_response__free_unpacked(dresp, NULL);

	call(&r, V2, "Pids", &sr.base, &g); /* unknown id now */
	run_until(&r, &g);
	assert_int_equal(g.code, 5);
	rig_down(&r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_codes_without_backend),
	    cmocka_unit_test(test_valid_ids),
	    cmocka_unit_test(test_wait_parked_while_serving),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
