/*
 * containerd.task.v2.Task (and v3) over ttrpc: the boundary. Requests are
 * decoded by lib/ttrpc with our protos; ids are checked here once (they end
 * up in paths and guest messages), then the core (task_service.c) decides.
 * A per-call context keeps what the core and backend borrow (mount arrays,
 * annotation lists) alive until the answer is sent.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/evloop.h"
#include "lib/log.h"
#include "lib/qb_id.h"
#include "proto/task.pb-c.h"
#include "shim/task_ttrpc.h"

enum rpc_kind {
	RPC_EMPTY,
	RPC_CREATE,
	RPC_START,
	RPC_DELETE,
	RPC_STATE,
	RPC_WAIT,
	RPC_PIDS,
	RPC_STATS,
	RPC_CONNECT,
};

struct task_binding {
	struct task_service *svc;
	char ns[256];
};

struct rpc_ctx {
	struct ttrpc_call *call;
	struct task_binding *tb;
	enum rpc_kind kind;
	uint64_t t0_ns; /* for the debug log's time per call */
	union {
		struct backend_create_req create;
		struct backend_exec_req exec;
		struct backend_update_req update;
	} u;
	struct backend_mount *mounts;
	const char **keys, **vals;
};

static char *
mut(const char *s)
{
	union {
		const char *c;
		char *m;
	} u = {.c = s};
	return u.m;
}

/* Validate id (required) and exec_id (may be empty); answers on failure. */
static int
check_ids(struct ttrpc_call *call, const char *id, const char *exec_id)
{
	if (!qb_id_valid(id)) {
		ttrpc_call_reply_error(
		    call, QB_E_INVALID, "invalid container id \"%.80s\"", id);
		return -1;
	}
	if (exec_id != NULL && exec_id[0] != '\0' && !qb_id_valid(exec_id)) {
		ttrpc_call_reply_error(
		    call, QB_E_INVALID, "invalid exec id \"%.80s\"", exec_id);
		return -1;
	}
	return 0;
}

static struct rpc_ctx *
ctx_new(struct ttrpc_call *call, void *arg, enum rpc_kind kind)
{
	struct rpc_ctx *ctx;

	if ((ctx = calloc(1, sizeof(*ctx))) == NULL) {
		ttrpc_call_reply_error(call, QB_E_INTERNAL, "out of memory");
		return NULL;
	}
	ctx->call = call;
	ctx->tb = arg;
	ctx->kind = kind;
	ctx->t0_ns = evloop_now_ns();
	return ctx;
}

static void
ctx_free(struct rpc_ctx *ctx)
{
	free(ctx->mounts);
	free(ctx->keys);
	free(ctx->vals);
	free(ctx);
}

static const char *
call_ns(struct rpc_ctx *ctx)
{
	const char *ns = ttrpc_call_namespace(ctx->call);

	return ns != NULL && ns[0] != '\0' ? ns : ctx->tb->ns;
}

static void
set_ts(Google__Protobuf__Timestamp *pb, const struct timespec *t)
{
	google__protobuf__timestamp__init(pb);
	pb->seconds = t->tv_sec;
	pb->nanos = (int32_t)t->tv_nsec;
}

static void
rpc_reply(void *arg, const struct ts_answer *ans, const struct qb_error *err)
{
	struct rpc_ctx *ctx = arg;
	struct ttrpc_call *call = ctx->call;
	Google__Protobuf__Timestamp ts;
	Google__Protobuf__Any any;

	log_debug("%s: %s: %llu us", __func__, ttrpc_call_method(call),
	    (unsigned long long)(evloop_now_ns() - ctx->t0_ns) / 1000);
	if (err != NULL) {
		log_info("%s: %s: code %d: %s", __func__,
		    ttrpc_call_method(call), err->code, err->msg);
		ttrpc_call_reply_qb(call, err);
		goto out;
	}
	switch (ctx->kind) {
	case RPC_CREATE: {
		Containerd__Task__V2__CreateTaskResponse r;
		containerd__task__v2__create_task_response__init(&r);
		r.pid = ans->pid;
		ttrpc_call_reply(call, &r.base);
		break;
	}
	case RPC_START: {
		Containerd__Task__V2__StartResponse r;
		containerd__task__v2__start_response__init(&r);
		r.pid = ans->pid;
		ttrpc_call_reply(call, &r.base);
		break;
	}
	case RPC_DELETE: {
		Containerd__Task__V2__DeleteResponse r;
		containerd__task__v2__delete_response__init(&r);
		r.pid = ans->pid;
		r.exit_status = ans->exit_status;
		set_ts(&ts, &ans->exited_at);
		r.exited_at = &ts;
		ttrpc_call_reply(call, &r.base);
		break;
	}
	case RPC_WAIT: {
		Containerd__Task__V2__WaitResponse r;
		containerd__task__v2__wait_response__init(&r);
		r.exit_status = ans->exit_status;
		set_ts(&ts, &ans->exited_at);
		r.exited_at = &ts;
		ttrpc_call_reply(call, &r.base);
		break;
	}
	case RPC_STATE: {
		Containerd__Task__V2__StateResponse r;
		containerd__task__v2__state_response__init(&r);
		r.id = mut(ans->id);
		r.exec_id = mut(ans->exec_id);
		r.bundle = mut(ans->bundle);
		r.pid = ans->pid;
		r.status = (Containerd__V1__Types__Status)ans->status;
		r.stdin = mut(ans->stdin_path);
		r.stdout = mut(ans->stdout_path);
		r.stderr = mut(ans->stderr_path);
		r.terminal = ans->terminal;
		r.exit_status = ans->exit_status;
		if (ans->status == TS_STOPPED) {
			set_ts(&ts, &ans->exited_at);
			r.exited_at = &ts;
		}
		ttrpc_call_reply(call, &r.base);
		break;
	}
	case RPC_PIDS: {
		Containerd__Task__V2__PidsResponse r;
		Containerd__V1__Types__ProcessInfo *infos = NULL, **ptrs = NULL;
		size_t i, n = ans->res != NULL ? ans->res->n_pids : 0;

		containerd__task__v2__pids_response__init(&r);
		if (n > 0) {
			infos = calloc(n, sizeof(*infos));
			ptrs = calloc(n, sizeof(*ptrs));
			if (infos == NULL || ptrs == NULL) {
				free(infos);
				free(ptrs);
				ttrpc_call_reply_error(
				    call, QB_E_INTERNAL, "out of memory");
				break;
			}
			for (i = 0; i < n; i++) {
				containerd__v1__types__process_info__init(
				    &infos[i]);
				infos[i].pid = ans->res->pids[i];
				ptrs[i] = &infos[i];
			}
		}
		r.n_processes = n;
		r.processes = ptrs;
		ttrpc_call_reply(call, &r.base);
		free(infos);
		free(ptrs);
		break;
	}
	case RPC_STATS: {
		Containerd__Task__V2__StatsResponse r;
		containerd__task__v2__stats_response__init(&r);
		if (ans->res != NULL && ans->res->stats_type_url != NULL) {
			google__protobuf__any__init(&any);
			any.type_url = mut(ans->res->stats_type_url);
			any.value.data =
			    (uint8_t *)mut((const char *)ans->res->stats);
			any.value.len = ans->res->stats_len;
			r.stats = &any;
		}
		ttrpc_call_reply(call, &r.base);
		break;
	}
	case RPC_CONNECT: {
		Containerd__Task__V2__ConnectResponse r;
		containerd__task__v2__connect_response__init(&r);
		r.shim_pid = ans->shim_pid;
		r.task_pid = ans->task_pid;
		r.version = mut(QB_VERSION);
		ttrpc_call_reply(call, &r.base);
		break;
	}
	case RPC_EMPTY:
		ttrpc_call_reply(call, NULL);
		break;
	}
out:
	ctx_free(ctx);
}

static void
any_fields(const Google__Protobuf__Any *a, const char **url,
    const uint8_t **data, size_t *len)
{
	*url = a != NULL && a->type_url != NULL ? a->type_url : "";
	*data = a != NULL ? a->value.data : NULL;
	*len = a != NULL ? a->value.len : 0;
}

static void
h_create(struct ttrpc_call *call, const ProtobufCMessage *m, void *arg)
{
	const Containerd__Task__V2__CreateTaskRequest *r = (const void *)m;
	struct backend_create_req *c;
	struct rpc_ctx *ctx;
	size_t i;

	if (check_ids(call, r->id, NULL) == -1 ||
	    (ctx = ctx_new(call, arg, RPC_CREATE)) == NULL)
		return;
	c = &ctx->u.create;
	if (r->n_rootfs > 0 &&
	    (ctx->mounts = calloc(r->n_rootfs, sizeof(*ctx->mounts))) == NULL) {
		ttrpc_call_reply_error(call, QB_E_INTERNAL, "out of memory");
		ctx_free(ctx);
		return;
	}
	for (i = 0; i < r->n_rootfs; i++) {
		ctx->mounts[i].type = r->rootfs[i]->type;
		ctx->mounts[i].source = r->rootfs[i]->source;
		ctx->mounts[i].target = r->rootfs[i]->target;
		ctx->mounts[i].options =
		    (const char *const *)(void *)r->rootfs[i]->options;
		ctx->mounts[i].n_options = r->rootfs[i]->n_options;
	}
	c->ns = call_ns(ctx);
	c->id = r->id;
	c->bundle = r->bundle;
	c->rootfs = ctx->mounts;
	c->n_rootfs = r->n_rootfs;
	c->io.stdin_path = r->stdin;
	c->io.stdout_path = r->stdout;
	c->io.stderr_path = r->stderr;
	c->io.terminal = r->terminal;
	c->checkpoint = r->checkpoint;
	c->parent_checkpoint = r->parent_checkpoint;
	any_fields(
	    r->options, &c->options_type_url, &c->options, &c->options_len);
	log_info("%s: id=%s ns=%s bundle=%s rootfs=%zu terminal=%d", __func__,
	    r->id, c->ns, r->bundle, r->n_rootfs, (int)r->terminal);
	ts_create(ctx->tb->svc, c, rpc_reply, ctx);
}

static void
h_start(struct ttrpc_call *call, const ProtobufCMessage *m, void *arg)
{
	const Containerd__Task__V2__StartRequest *r = (const void *)m;
	struct rpc_ctx *ctx;

	if (check_ids(call, r->id, r->exec_id) == -1 ||
	    (ctx = ctx_new(call, arg, RPC_START)) == NULL)
		return;
	ts_start(ctx->tb->svc, r->id, r->exec_id, rpc_reply, ctx);
}

static void
h_delete(struct ttrpc_call *call, const ProtobufCMessage *m, void *arg)
{
	const Containerd__Task__V2__DeleteRequest *r = (const void *)m;
	struct rpc_ctx *ctx;

	if (check_ids(call, r->id, r->exec_id) == -1 ||
	    (ctx = ctx_new(call, arg, RPC_DELETE)) == NULL)
		return;
	ts_delete(ctx->tb->svc, r->id, r->exec_id, rpc_reply, ctx);
}

static void
h_state(struct ttrpc_call *call, const ProtobufCMessage *m, void *arg)
{
	const Containerd__Task__V2__StateRequest *r = (const void *)m;
	struct rpc_ctx *ctx;

	if (check_ids(call, r->id, r->exec_id) == -1 ||
	    (ctx = ctx_new(call, arg, RPC_STATE)) == NULL)
		return;
	ts_state(ctx->tb->svc, r->id, r->exec_id, rpc_reply, ctx);
}

static void
wait_cancelled(struct ttrpc_call *call, void *arg)
{
	struct rpc_ctx *ctx = arg;

	ts_wait_cancel(ctx->tb->svc, ctx);
	ttrpc_call_release(call);
	ctx_free(ctx);
}

static void
h_wait(struct ttrpc_call *call, const ProtobufCMessage *m, void *arg)
{
	const Containerd__Task__V2__WaitRequest *r = (const void *)m;
	struct rpc_ctx *ctx;

	if (check_ids(call, r->id, r->exec_id) == -1 ||
	    (ctx = ctx_new(call, arg, RPC_WAIT)) == NULL)
		return;
	/* Set before ts_wait: it may answer (and free ctx) right away, after
	 * which the call no longer exists to be cancelled. */
	ttrpc_call_set_cancel(call, wait_cancelled, ctx);
	ts_wait(ctx->tb->svc, r->id, r->exec_id, rpc_reply, ctx);
}

static void
h_exec(struct ttrpc_call *call, const ProtobufCMessage *m, void *arg)
{
	const Containerd__Task__V2__ExecProcessRequest *r = (const void *)m;
	struct backend_exec_req *e;
	struct rpc_ctx *ctx;

	if (check_ids(call, r->id, NULL) == -1)
		return;
	if (!qb_id_valid(r->exec_id)) {
		ttrpc_call_reply_error(call, QB_E_INVALID,
		    "invalid exec id \"%.80s\"", r->exec_id);
		return;
	}
	if ((ctx = ctx_new(call, arg, RPC_EMPTY)) == NULL)
		return;
	e = &ctx->u.exec;
	e->ns = call_ns(ctx);
	e->id = r->id;
	e->exec_id = r->exec_id;
	e->io.stdin_path = r->stdin;
	e->io.stdout_path = r->stdout;
	e->io.stderr_path = r->stderr;
	e->io.terminal = r->terminal;
	any_fields(r->spec, &e->spec_type_url, &e->spec, &e->spec_len);
	ts_exec(ctx->tb->svc, e, rpc_reply, ctx);
}

static void
h_kill(struct ttrpc_call *call, const ProtobufCMessage *m, void *arg)
{
	const Containerd__Task__V2__KillRequest *r = (const void *)m;
	struct rpc_ctx *ctx;

	if (check_ids(call, r->id, r->exec_id) == -1 ||
	    (ctx = ctx_new(call, arg, RPC_EMPTY)) == NULL)
		return;
	ts_kill(
	    ctx->tb->svc, r->id, r->exec_id, r->signal, r->all, rpc_reply, ctx);
}

static void
h_pids(struct ttrpc_call *call, const ProtobufCMessage *m, void *arg)
{
	const Containerd__Task__V2__PidsRequest *r = (const void *)m;
	struct rpc_ctx *ctx;

	if (check_ids(call, r->id, NULL) == -1 ||
	    (ctx = ctx_new(call, arg, RPC_PIDS)) == NULL)
		return;
	ts_pids(ctx->tb->svc, r->id, rpc_reply, ctx);
}

static void
h_pause(struct ttrpc_call *call, const ProtobufCMessage *m, void *arg)
{
	const Containerd__Task__V2__PauseRequest *r = (const void *)m;
	struct rpc_ctx *ctx;

	if (check_ids(call, r->id, NULL) == -1 ||
	    (ctx = ctx_new(call, arg, RPC_EMPTY)) == NULL)
		return;
	ts_pause(ctx->tb->svc, r->id, rpc_reply, ctx);
}

static void
h_resume(struct ttrpc_call *call, const ProtobufCMessage *m, void *arg)
{
	const Containerd__Task__V2__ResumeRequest *r = (const void *)m;
	struct rpc_ctx *ctx;

	if (check_ids(call, r->id, NULL) == -1 ||
	    (ctx = ctx_new(call, arg, RPC_EMPTY)) == NULL)
		return;
	ts_resume(ctx->tb->svc, r->id, rpc_reply, ctx);
}

static void
h_checkpoint(struct ttrpc_call *call, const ProtobufCMessage *m, void *arg)
{
	const Containerd__Task__V2__CheckpointTaskRequest *r = (const void *)m;
	struct rpc_ctx *ctx;

	if (check_ids(call, r->id, NULL) == -1 ||
	    (ctx = ctx_new(call, arg, RPC_EMPTY)) == NULL)
		return;
	ts_checkpoint(ctx->tb->svc, r->id, r->path, rpc_reply, ctx);
}

static void
h_resize(struct ttrpc_call *call, const ProtobufCMessage *m, void *arg)
{
	const Containerd__Task__V2__ResizePtyRequest *r = (const void *)m;
	struct rpc_ctx *ctx;

	if (check_ids(call, r->id, r->exec_id) == -1 ||
	    (ctx = ctx_new(call, arg, RPC_EMPTY)) == NULL)
		return;
	ts_resize_pty(ctx->tb->svc, r->id, r->exec_id, r->width, r->height,
	    rpc_reply, ctx);
}

static void
h_close_io(struct ttrpc_call *call, const ProtobufCMessage *m, void *arg)
{
	const Containerd__Task__V2__CloseIORequest *r = (const void *)m;
	struct rpc_ctx *ctx;

	if (check_ids(call, r->id, r->exec_id) == -1 ||
	    (ctx = ctx_new(call, arg, RPC_EMPTY)) == NULL)
		return;
	ts_close_io(ctx->tb->svc, r->id, r->exec_id, r->stdin, rpc_reply, ctx);
}

static void
h_update(struct ttrpc_call *call, const ProtobufCMessage *m, void *arg)
{
	const Containerd__Task__V2__UpdateTaskRequest *r = (const void *)m;
	struct backend_update_req *u;
	struct rpc_ctx *ctx;
	size_t i;

	if (check_ids(call, r->id, NULL) == -1 ||
	    (ctx = ctx_new(call, arg, RPC_EMPTY)) == NULL)
		return;
	u = &ctx->u.update;
	u->id = r->id;
	any_fields(r->resources, &u->resources_type_url, &u->resources,
	    &u->resources_len);
	if (r->n_annotations > 0) {
		ctx->keys = calloc(r->n_annotations, sizeof(*ctx->keys));
		ctx->vals = calloc(r->n_annotations, sizeof(*ctx->vals));
		if (ctx->keys == NULL || ctx->vals == NULL) {
			ttrpc_call_reply_error(
			    call, QB_E_INTERNAL, "out of memory");
			ctx_free(ctx);
			return;
		}
		for (i = 0; i < r->n_annotations; i++) {
			ctx->keys[i] = r->annotations[i]->key;
			ctx->vals[i] = r->annotations[i]->value;
		}
	}
	u->annotation_keys = ctx->keys;
	u->annotation_values = ctx->vals;
	u->n_annotations = r->n_annotations;
	ts_update(ctx->tb->svc, u, rpc_reply, ctx);
}

static void
h_stats(struct ttrpc_call *call, const ProtobufCMessage *m, void *arg)
{
	const Containerd__Task__V2__StatsRequest *r = (const void *)m;
	struct rpc_ctx *ctx;

	if (check_ids(call, r->id, NULL) == -1 ||
	    (ctx = ctx_new(call, arg, RPC_STATS)) == NULL)
		return;
	ts_stats(ctx->tb->svc, r->id, rpc_reply, ctx);
}

static void
h_connect(struct ttrpc_call *call, const ProtobufCMessage *m, void *arg)
{
	const Containerd__Task__V2__ConnectRequest *r = (const void *)m;
	struct rpc_ctx *ctx;

	if ((ctx = ctx_new(call, arg, RPC_CONNECT)) == NULL)
		return;
	ts_connect(ctx->tb->svc, r->id, rpc_reply, ctx);
}

static void
h_shutdown(struct ttrpc_call *call, const ProtobufCMessage *m, void *arg)
{
	const Containerd__Task__V2__ShutdownRequest *r = (const void *)m;
	struct rpc_ctx *ctx;

	if ((ctx = ctx_new(call, arg, RPC_EMPTY)) == NULL)
		return;
	log_info("%s: id=%s now=%d", __func__, r->id, (int)r->now);
	ts_shutdown(ctx->tb->svc, r->id, r->now, rpc_reply, ctx);
}

#define M(name, req, fn)                                             \
	{                                                            \
		name, &containerd__task__v2__##req##__descriptor, fn \
	}
static const struct ttrpc_method task_methods[] = {
    M("State", state_request, h_state),
    M("Create", create_task_request, h_create),
    M("Start", start_request, h_start),
    M("Delete", delete_request, h_delete),
    M("Pids", pids_request, h_pids),
    M("Pause", pause_request, h_pause),
    M("Resume", resume_request, h_resume),
    M("Checkpoint", checkpoint_task_request, h_checkpoint),
    M("Kill", kill_request, h_kill),
    M("Exec", exec_process_request, h_exec),
    M("ResizePty", resize_pty_request, h_resize),
    M("CloseIO", close_iorequest, h_close_io),
    M("Update", update_task_request, h_update),
    M("Wait", wait_request, h_wait),
    M("Stats", stats_request, h_stats),
    M("Connect", connect_request, h_connect),
    M("Shutdown", shutdown_request, h_shutdown),
};
#undef M

int
task_ttrpc_register(
    struct ttrpc_server *srv, struct task_service *svc, const char *default_ns)
{
	static struct task_binding tb;
	size_t n = sizeof(task_methods) / sizeof(task_methods[0]);

	tb.svc = svc;
	snprintf(tb.ns, sizeof(tb.ns), "%s", default_ns);
	if (ttrpc_server_register(
	        srv, "containerd.task.v2.Task", task_methods, n, &tb) == -1)
		return -1;
	/* containerd 2.x: same messages, package v3 (WIRE.md §3.8). */
	return ttrpc_server_register(
	    srv, "containerd.task.v3.Task", task_methods, n, &tb);
}
