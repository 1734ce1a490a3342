/*
 * Task service core (see task_service.h). Backend operations complete
 * later, after other calls may have changed the world (a Delete racing a
 * Kill), so an in-flight op remembers ids, not pointers, and looks its
 * container/process up again when it completes.
 */
#include <sys/queue.h>
#include <sys/wait.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/log.h"
#include "shim/task_service.h"

struct ts_waiter {
	TAILQ_ENTRY(ts_waiter) entry;
	ts_reply_fn reply;
	void *arg;
};
TAILQ_HEAD(ts_waiters, ts_waiter);

struct ts_container;

struct ts_proc {
	TAILQ_ENTRY(ts_proc) entry;
	struct ts_container *c;
	char *exec_id; /* "" for init */
	uint32_t pid;
	enum ts_status status;
	char *stdin_path, *stdout_path, *stderr_path;
	bool terminal;
	uint32_t exit_status;
	struct timespec exited_at;
	bool starting;  /* Start (or Exec) is in flight */
	bool exit_held; /* an exit arrived while starting */
	uint32_t held_status;
	struct timespec held_at;
	struct ts_waiters waiters;
};
TAILQ_HEAD(ts_procs, ts_proc);

struct ts_container {
	TAILQ_ENTRY(ts_container) entry;
	char *id;
	char *bundle;
	bool creating;
	bool deleting;
	struct ts_proc *init;
	struct ts_procs execs;
};
TAILQ_HEAD(ts_containers, ts_container);

struct task_service {
	const struct backend_ops *ops;
	void *bst;
	char *missing;
	ts_event_fn on_event;
	void *event_arg;
	void (*on_exit)(void *);
	void *exit_arg;
	void (*on_closing)(void *);
	void *closing_arg;
	struct ts_containers containers;
	bool exiting;
};

/* One backend operation in flight. */
struct ts_op {
	struct task_service *svc;
	char *id;
	char *exec_id;
	ts_reply_fn reply;
	void *arg;
	const struct backend_create_req *create;
};

static void reply_err(ts_reply_fn reply, void *arg, int code, const char *fmt,
    ...) __attribute__((format(printf, 4, 5)));

static void
reply_err(ts_reply_fn reply, void *arg, int code, const char *fmt, ...)
{
	struct qb_error err;
	va_list ap;

	err.code = code;
	va_start(ap, fmt);
	vsnprintf(err.msg, sizeof(err.msg), fmt, ap);
	va_end(ap);
	reply(arg, NULL, &err);
}

static void
reply_ok(ts_reply_fn reply, void *arg)
{
	struct ts_answer ans;

	memset(&ans, 0, sizeof(ans));
	reply(arg, &ans, NULL);
}

static bool
failed(const struct qb_error *err)
{
	return err != NULL && err->code != QB_E_OK;
}

static const char *
nz(const char *s)
{
	return s != NULL ? s : "";
}

uint32_t
ts_exit_status_from_wait(int wstatus)
{
	if (WIFSIGNALED(wstatus))
		return 128u + (uint32_t)WTERMSIG(wstatus);
	if (WIFEXITED(wstatus))
		return (uint32_t)WEXITSTATUS(wstatus);
	return 255;
}

struct task_service *
task_service_new(const struct backend_ops *ops, void *backend_state,
    const char *missing, ts_event_fn on_event, void *event_arg,
    void (*on_exit)(void *arg), void *exit_arg)
{
	struct task_service *svc;

	if ((svc = calloc(1, sizeof(*svc))) == NULL)
		return NULL;
	svc->ops = ops;
	svc->bst = backend_state;
	if (missing != NULL && (svc->missing = strdup(missing)) == NULL) {
		free(svc);
		return NULL;
	}
	svc->on_event = on_event;
	svc->event_arg = event_arg;
	svc->on_exit = on_exit;
	svc->exit_arg = exit_arg;
	TAILQ_INIT(&svc->containers);
	return svc;
}

void
task_service_set_on_closing(
    struct task_service *svc, void (*on_closing)(void *arg), void *arg)
{
	svc->on_closing = on_closing;
	svc->closing_arg = arg;
}

void
task_service_set_backend(struct task_service *svc,
    const struct backend_ops *ops, void *backend_state)
{
	svc->ops = ops;
	svc->bst = backend_state;
}

static void
proc_free(struct ts_proc *p)
{
	struct ts_waiter *w;

	/* A waiter left here has lost its process: tell it so. */
	while ((w = TAILQ_FIRST(&p->waiters)) != NULL) {
		TAILQ_REMOVE(&p->waiters, w, entry);
		reply_err(w->reply, w->arg, QB_E_NOTFOUND,
		    "process %s was deleted", p->exec_id);
		free(w);
	}
	free(p->exec_id);
	free(p->stdin_path);
	free(p->stdout_path);
	free(p->stderr_path);
	free(p);
}

static void
container_free(struct ts_container *c)
{
	struct ts_proc *p;

	while ((p = TAILQ_FIRST(&c->execs)) != NULL) {
		TAILQ_REMOVE(&c->execs, p, entry);
		proc_free(p);
	}
	if (c->init != NULL)
		proc_free(c->init);
	free(c->id);
	free(c->bundle);
	free(c);
}

void
task_service_free(struct task_service *svc)
{
	struct ts_container *c;

	if (svc == NULL)
		return;
	while ((c = TAILQ_FIRST(&svc->containers)) != NULL) {
		TAILQ_REMOVE(&svc->containers, c, entry);
		container_free(c);
	}
	free(svc->missing);
	free(svc);
}

size_t
task_service_count(const struct task_service *svc)
{
	const struct ts_container *c;
	size_t n = 0;

	TAILQ_FOREACH(c, &svc->containers, entry)
	{
		n++;
	}
	return n;
}

static struct ts_container *
container_find(struct task_service *svc, const char *id)
{
	struct ts_container *c;

	TAILQ_FOREACH(c, &svc->containers, entry)
	{
		if (strcmp(c->id, id) == 0)
			return c;
	}
	return NULL;
}

static struct ts_proc *
exec_find(struct ts_container *c, const char *exec_id)
{
	struct ts_proc *p;

	TAILQ_FOREACH(p, &c->execs, entry)
	{
		if (strcmp(p->exec_id, exec_id) == 0)
			return p;
	}
	return NULL;
}

/*
 * The process named by (id, exec_id), or NULL after answering NotFound the
 * way the runc shim words it. A container still being created is not there.
 */
static struct ts_proc *
proc_lookup(struct task_service *svc, const char *id, const char *exec_id,
    ts_reply_fn reply, void *arg)
{
	struct ts_container *c;
	struct ts_proc *p;

	c = container_find(svc, nz(id));
	if (c == NULL || c->creating || c->init == NULL) {
		reply_err(reply, arg, QB_E_NOTFOUND, "container %s not created",
		    nz(id));
		return NULL;
	}
	if (exec_id == NULL || exec_id[0] == '\0')
		return c->init;
	if ((p = exec_find(c, exec_id)) == NULL)
		reply_err(reply, arg, QB_E_NOTFOUND,
		    "process %s does not exist", exec_id);
	return p;
}

static struct ts_proc *
proc_new(
    struct ts_container *c, const char *exec_id, const struct backend_stdio *io)
{
	struct ts_proc *p;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	p->c = c;
	p->status = TS_CREATED;
	TAILQ_INIT(&p->waiters);
	p->exec_id = strdup(nz(exec_id));
	p->stdin_path = strdup(nz(io->stdin_path));
	p->stdout_path = strdup(nz(io->stdout_path));
	p->stderr_path = strdup(nz(io->stderr_path));
	p->terminal = io->terminal;
	if (p->exec_id == NULL || p->stdin_path == NULL ||
	    p->stdout_path == NULL || p->stderr_path == NULL) {
		proc_free(p);
		return NULL;
	}
	return p;
}

static void
emit(struct task_service *svc, enum ts_event_kind kind, struct ts_proc *p,
    const struct backend_create_req *create)
{
	struct ts_event ev;
	bool init = p->exec_id[0] == '\0';

	if (svc->on_event == NULL)
		return;
	memset(&ev, 0, sizeof(ev));
	ev.kind = kind;
	ev.container_id = p->c->id;
	ev.pid = p->pid;
	ev.exit_status = p->exit_status;
	ev.exited_at = p->exited_at;
	ev.create = create;
	if (kind == TS_EV_EXIT)
		ev.id = init ? p->c->id : p->exec_id;
	else
		ev.id = p->exec_id;
	svc->on_event(svc->event_arg, &ev);
}

static struct ts_op *
op_new(struct task_service *svc, const char *id, const char *exec_id,
    ts_reply_fn reply, void *arg)
{
	struct ts_op *op;

	if ((op = calloc(1, sizeof(*op))) == NULL)
		goto fail;
	op->svc = svc;
	op->reply = reply;
	op->arg = arg;
	op->id = strdup(nz(id));
	op->exec_id = strdup(nz(exec_id));
	if (op->id == NULL || op->exec_id == NULL)
		goto fail;
	return op;
fail:
	if (op != NULL) {
		free(op->id);
		free(op->exec_id);
		free(op);
	}
	reply_err(reply, arg, QB_E_INTERNAL, "out of memory");
	return NULL;
}

static void
op_free(struct ts_op *op)
{
	free(op->id);
	free(op->exec_id);
	free(op);
}

/* The process an op was about, if it still exists. */
static struct ts_proc *
op_proc(struct ts_op *op)
{
	struct ts_container *c = container_find(op->svc, op->id);

	if (c == NULL || c->init == NULL)
		return NULL;
	if (op->exec_id[0] == '\0')
		return c->init;
	return exec_find(c, op->exec_id);
}

static void
wake_waiters(struct ts_proc *p)
{
	struct ts_waiter *w;
	struct ts_answer ans;

	memset(&ans, 0, sizeof(ans));
	ans.exit_status = p->exit_status;
	ans.exited_at = p->exited_at;
	ans.pid = p->pid;
	while ((w = TAILQ_FIRST(&p->waiters)) != NULL) {
		TAILQ_REMOVE(&p->waiters, w, entry);
		w->reply(w->arg, &ans, NULL);
		free(w);
	}
}

/*
 * A process whose Start failed never runs, so never exits: a Wait parked on
 * it (ctr and CRI's exec wait before they start) gets the Start's error
 * instead of hanging until its connection closes.
 */
static void
fail_waiters(struct ts_proc *p, const struct qb_error *err)
{
	struct ts_waiter *w;

	while ((w = TAILQ_FIRST(&p->waiters)) != NULL) {
		TAILQ_REMOVE(&p->waiters, w, entry);
		w->reply(w->arg, NULL, err);
		free(w);
	}
}

static void
proc_exited(struct task_service *svc, struct ts_proc *p, uint32_t status,
    const struct timespec *at)
{
	if (p->status == TS_STOPPED)
		return; /* one exit per process */
	if (p->starting) {
		/* TaskStart must be published before any TaskExit. */
		p->exit_held = true;
		p->held_status = status;
		p->held_at = *at;
		return;
	}
	p->status = TS_STOPPED;
	p->exit_status = status;
	p->exited_at = *at;
	emit(svc, TS_EV_EXIT, p, NULL);
	wake_waiters(p);
}

void
task_service_exited(struct task_service *svc, const char *id,
    const char *exec_id, uint32_t pid, uint32_t exit_status,
    const struct timespec *exited_at)
{
	struct ts_container *c = container_find(svc, nz(id));
	struct ts_proc *p = NULL;
	struct timespec now;

	if (c != NULL && c->init != NULL)
		p = (exec_id == NULL || exec_id[0] == '\0')
		        ? c->init
		        : exec_find(c, exec_id);
	if (p == NULL) {
		log_warnx("%s: exit of unknown process %s/%s pid %u", __func__,
		    nz(id), nz(exec_id), pid);
		return;
	}
	if (exited_at == NULL) {
		clock_gettime(CLOCK_REALTIME, &now);
		exited_at = &now;
	}
	if (pid != 0 && p->pid == 0)
		p->pid = pid;
	log_debug("%s: %s/%s pid %u exit %u", __func__, c->id, p->exec_id, pid,
	    exit_status);
	proc_exited(svc, p, exit_status, exited_at);
}

void
task_service_oom(struct task_service *svc, const char *id)
{
	struct ts_container *c = container_find(svc, nz(id));

	if (c == NULL || c->init == NULL)
		return;
	emit(svc, TS_EV_OOM, c->init, NULL);
}

/* ---- Create ---- */

static void
create_done(
    void *arg, const struct backend_result *res, const struct qb_error *err)
{
	struct ts_op *op = arg;
	struct task_service *svc = op->svc;
	struct ts_container *c = container_find(svc, op->id);
	struct ts_answer ans;

	if (c == NULL || !c->creating) {
		/* Cannot happen: nothing removes a creating container. */
		reply_err(op->reply, op->arg, QB_E_INTERNAL,
		    "container %s vanished during create", op->id);
		goto out;
	}
	if (failed(err)) {
		log_warnx("%s: create %s: %s", __func__, op->id, err->msg);
		TAILQ_REMOVE(&svc->containers, c, entry);
		container_free(c);
		op->reply(op->arg, NULL, err);
		goto out;
	}
	c->creating = false;
	c->init->pid = res != NULL ? res->pid : 0;
	emit(svc, TS_EV_CREATE, c->init, op->create);
	memset(&ans, 0, sizeof(ans));
	ans.pid = c->init->pid;
	op->reply(op->arg, &ans, NULL);
out:
	op_free(op);
}

void
ts_create(struct task_service *svc, const struct backend_create_req *req,
    ts_reply_fn reply, void *arg)
{
	struct ts_container *c;
	struct ts_op *op;

	if (req->id == NULL || req->id[0] == '\0') {
		reply_err(reply, arg, QB_E_INVALID, "create: empty id");
		return;
	}
	if (container_find(svc, req->id) != NULL) {
		reply_err(reply, arg, QB_E_EXISTS,
		    "container %s already exists", req->id);
		return;
	}
	if (svc->exiting) {
		reply_err(
		    reply, arg, QB_E_UNAVAILABLE, "shim is shutting down");
		return;
	}
	if (svc->missing != NULL) {
		reply_err(reply, arg, QB_E_PRECONDITION, "%s", svc->missing);
		return;
	}
	if (svc->ops == NULL || svc->ops->create == NULL) {
		reply_err(reply, arg, QB_E_UNIMPLEMENTED,
		    "qemubox: no VM backend in this build of "
		    "containerd-shim-qemubox-v1 (shim/vm_backend.c not "
		    "compiled in); cannot create %s",
		    req->id);
		return;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (c->id = strdup(req->id)) == NULL ||
	    (c->bundle = strdup(nz(req->bundle))) == NULL ||
	    (c->init = proc_new(c, "", &req->io)) == NULL) {
		if (c != NULL)
			container_free(c);
		reply_err(reply, arg, QB_E_INTERNAL, "out of memory");
		return;
	}
	TAILQ_INIT(&c->execs);
	c->creating = true;
	if ((op = op_new(svc, req->id, "", reply, arg)) == NULL) {
		container_free(c);
		return;
	}
	op->create = req;
	TAILQ_INSERT_TAIL(&svc->containers, c, entry);
	svc->ops->create(svc->bst, req, create_done, op);
}

/* ---- Start ---- */

static void
start_done(
    void *arg, const struct backend_result *res, const struct qb_error *err)
{
	struct ts_op *op = arg;
	struct ts_proc *p = op_proc(op);
	struct ts_answer ans;

	if (p == NULL) {
		reply_err(op->reply, op->arg, QB_E_NOTFOUND,
		    "process %s/%s deleted while starting", op->id,
		    op->exec_id);
		goto out;
	}
	p->starting = false;
	if (failed(err)) {
		op->reply(op->arg, NULL, err);
		fail_waiters(p, err);
	} else {
		if (res != NULL && res->pid != 0)
			p->pid = res->pid;
		if (p->status == TS_CREATED)
			p->status = TS_RUNNING;
		emit(op->svc,
		    p->exec_id[0] == '\0' ? TS_EV_START : TS_EV_EXEC_STARTED, p,
		    NULL);
		memset(&ans, 0, sizeof(ans));
		ans.pid = p->pid;
		op->reply(op->arg, &ans, NULL);
	}
	if (p->exit_held) {
		p->exit_held = false;
		proc_exited(op->svc, p, p->held_status, &p->held_at);
	}
out:
	op_free(op);
}

void
ts_start(struct task_service *svc, const char *id, const char *exec_id,
    ts_reply_fn reply, void *arg)
{
	struct ts_proc *p;
	struct ts_op *op;

	if ((p = proc_lookup(svc, id, exec_id, reply, arg)) == NULL)
		return;
	if (p->status != TS_CREATED || p->starting) {
		reply_err(reply, arg, QB_E_PRECONDITION,
		    "process %s/%s cannot be started: it is %s", id,
		    p->exec_id[0] ? p->exec_id : "init",
		    p->starting ? "starting" : "not in the created state");
		return;
	}
	if (svc->ops == NULL || svc->ops->start == NULL) {
		reply_err(reply, arg, QB_E_UNIMPLEMENTED,
		    "start is not supported by this backend");
		return;
	}
	if ((op = op_new(svc, id, exec_id, reply, arg)) == NULL)
		return;
	p->starting = true;
	svc->ops->start(svc->bst, p->c->id, p->exec_id, start_done, op);
}

/* ---- Delete ---- */

static void
delete_done(
    void *arg, const struct backend_result *res, const struct qb_error *err)
{
	struct ts_op *op = arg;
	struct task_service *svc = op->svc;
	struct ts_container *c = container_find(svc, op->id);
	struct ts_proc *p = op_proc(op);
	struct ts_answer ans;

	(void)res;
	if (p == NULL) {
		reply_err(op->reply, op->arg, QB_E_NOTFOUND,
		    "process %s/%s already deleted", op->id, op->exec_id);
		goto out;
	}
	if (failed(err)) {
		if (p->exec_id[0] == '\0')
			c->deleting = false;
		op->reply(op->arg, NULL, err);
		goto out;
	}
	memset(&ans, 0, sizeof(ans));
	ans.pid = p->pid;
	ans.exit_status = p->exit_status;
	ans.exited_at = p->exited_at;
	if (p->status != TS_STOPPED)
		clock_gettime(CLOCK_REALTIME, &ans.exited_at);
	/* TaskDelete after TaskExit: the exit (if any) was emitted already. */
	{
		uint32_t saved = p->exit_status;
		struct timespec sat = p->exited_at;
		p->exited_at = ans.exited_at;
		emit(svc, TS_EV_DELETE, p, NULL);
		p->exit_status = saved;
		p->exited_at = sat;
	}
	if (p->exec_id[0] == '\0') {
		TAILQ_REMOVE(&svc->containers, c, entry);
		container_free(c);
	} else {
		TAILQ_REMOVE(&c->execs, p, entry);
		proc_free(p);
	}
	op->reply(op->arg, &ans, NULL);
out:
	op_free(op);
}

void
ts_delete(struct task_service *svc, const char *id, const char *exec_id,
    ts_reply_fn reply, void *arg)
{
	void (*del)(
	    void *, const char *, const char *, backend_done_fn, void *);
	struct ts_proc *p, *e;
	struct ts_op *op;
	bool init = exec_id == NULL || exec_id[0] == '\0';

	if ((p = proc_lookup(svc, id, exec_id, reply, arg)) == NULL)
		return;
	if (p->starting ||
	    (p->status != TS_STOPPED &&
	        !(p->status == TS_CREATED && (init || p->pid == 0)))) {
		reply_err(reply, arg, QB_E_PRECONDITION,
		    "cannot delete %s/%s: process is still running", id,
		    init ? "init" : exec_id);
		return;
	}
	if (init) {
		if (p->c->deleting) {
			reply_err(reply, arg, QB_E_PRECONDITION,
			    "container %s is being deleted", id);
			return;
		}
		TAILQ_FOREACH(e, &p->c->execs, entry)
		{
			if (e->status != TS_STOPPED &&
			    e->status != TS_CREATED) {
				reply_err(reply, arg, QB_E_PRECONDITION,
				    "cannot delete %s: exec %s is still "
				    "running",
				    id, e->exec_id);
				return;
			}
		}
	}
	if ((op = op_new(svc, id, exec_id, reply, arg)) == NULL)
		return;
	if (init)
		p->c->deleting = true;
	/* Through a local: `delete` is a C++ keyword to some tools. */
	if (svc->ops != NULL && (del = svc->ops->delete) != NULL)
		del(svc->bst, p->c->id, p->exec_id, delete_done, op);
	else
		delete_done(op, NULL, NULL); /* nothing was ever created */
}

/* ---- Exec ---- */

static void
exec_done(
    void *arg, const struct backend_result *res, const struct qb_error *err)
{
	struct ts_op *op = arg;
	struct ts_container *c = container_find(op->svc, op->id);
	struct ts_proc *p = op_proc(op);

	if (p == NULL) {
		reply_err(op->reply, op->arg, QB_E_NOTFOUND,
		    "exec %s/%s deleted while being added", op->id,
		    op->exec_id);
		goto out;
	}
	p->starting = false;
	if (failed(err)) {
		TAILQ_REMOVE(&c->execs, p, entry);
		proc_free(p);
		op->reply(op->arg, NULL, err);
		goto out;
	}
	if (res != NULL && res->pid != 0)
		p->pid = res->pid;
	emit(op->svc, TS_EV_EXEC_ADDED, p, NULL);
	reply_ok(op->reply, op->arg);
out:
	op_free(op);
}

void
ts_exec(struct task_service *svc, const struct backend_exec_req *req,
    ts_reply_fn reply, void *arg)
{
	struct ts_proc *init, *p;
	struct ts_op *op;

	if ((init = proc_lookup(svc, req->id, NULL, reply, arg)) == NULL)
		return;
	if (req->exec_id == NULL || req->exec_id[0] == '\0') {
		reply_err(reply, arg, QB_E_INVALID, "exec: empty exec id");
		return;
	}
	if (exec_find(init->c, req->exec_id) != NULL) {
		reply_err(reply, arg, QB_E_EXISTS, "id %s: already exists",
		    req->exec_id);
		return;
	}
	if (init->status == TS_STOPPED || init->c->deleting) {
		reply_err(reply, arg, QB_E_PRECONDITION,
		    "container %s is not running", req->id);
		return;
	}
	if (svc->ops == NULL || svc->ops->exec == NULL) {
		reply_err(reply, arg, QB_E_UNIMPLEMENTED,
		    "exec is not supported by this backend");
		return;
	}
	if ((p = proc_new(init->c, req->exec_id, &req->io)) == NULL) {
		reply_err(reply, arg, QB_E_INTERNAL, "out of memory");
		return;
	}
	if ((op = op_new(svc, req->id, req->exec_id, reply, arg)) == NULL) {
		proc_free(p);
		return;
	}
	/* Held as "starting" so an early exit cannot precede exec-added. */
	p->starting = true;
	TAILQ_INSERT_TAIL(&init->c->execs, p, entry);
	svc->ops->exec(svc->bst, req, exec_done, op);
}

/* ---- Kill, Pause, Resume and the simple forwarders ---- */

static void
simple_done(
    void *arg, const struct backend_result *res, const struct qb_error *err)
{
	struct ts_op *op = arg;
	struct ts_answer ans;

	if (failed(err)) {
		op->reply(op->arg, NULL, err);
	} else {
		memset(&ans, 0, sizeof(ans));
		ans.res = res;
		op->reply(op->arg, &ans, NULL);
	}
	op_free(op);
}

void
ts_kill(struct task_service *svc, const char *id, const char *exec_id,
    uint32_t signal, bool all, ts_reply_fn reply, void *arg)
{
	struct ts_proc *p;
	struct ts_op *op;

	if ((p = proc_lookup(svc, id, exec_id, reply, arg)) == NULL)
		return;
	if (p->status == TS_STOPPED && !all) {
		reply_err(
		    reply, arg, QB_E_NOTFOUND, "process already finished");
		return;
	}
	if (p->exec_id[0] != '\0' && p->status == TS_CREATED && p->pid == 0) {
		reply_err(reply, arg, QB_E_PRECONDITION,
		    "process %s not started", p->exec_id);
		return;
	}
	if (svc->ops == NULL || svc->ops->kill == NULL) {
		reply_err(reply, arg, QB_E_UNIMPLEMENTED,
		    "kill is not supported by this backend");
		return;
	}
	if ((op = op_new(svc, id, exec_id, reply, arg)) == NULL)
		return;
	svc->ops->kill(
	    svc->bst, p->c->id, p->exec_id, signal, all, simple_done, op);
}

static void
pause_resume_done(void *arg, const struct backend_result *res,
    const struct qb_error *err, bool pause)
{
	struct ts_op *op = arg;
	struct ts_proc *p = op_proc(op);

	(void)res;
	if (p != NULL && p->status != TS_STOPPED) {
		if (failed(err))
			p->status = pause ? TS_RUNNING : TS_PAUSED;
		else {
			p->status = pause ? TS_PAUSED : TS_RUNNING;
			emit(op->svc, pause ? TS_EV_PAUSED : TS_EV_RESUMED, p,
			    NULL);
		}
	}
	if (failed(err))
		op->reply(op->arg, NULL, err);
	else
		reply_ok(op->reply, op->arg);
	op_free(op);
}

static void
pause_done(
    void *arg, const struct backend_result *res, const struct qb_error *err)
{
	pause_resume_done(arg, res, err, true);
}

static void
resume_done(
    void *arg, const struct backend_result *res, const struct qb_error *err)
{
	pause_resume_done(arg, res, err, false);
}

void
ts_pause(struct task_service *svc, const char *id, ts_reply_fn reply, void *arg)
{
	struct ts_proc *p;
	struct ts_op *op;

	if ((p = proc_lookup(svc, id, NULL, reply, arg)) == NULL)
		return;
	if (svc->ops == NULL || svc->ops->pause == NULL) {
		reply_err(reply, arg, QB_E_UNIMPLEMENTED,
		    "pause is not supported by this backend");
		return;
	}
	if (p->status != TS_RUNNING) {
		reply_err(reply, arg, QB_E_PRECONDITION,
		    "container %s is not running", id);
		return;
	}
	if ((op = op_new(svc, id, NULL, reply, arg)) == NULL)
		return;
	p->status = TS_PAUSING;
	svc->ops->pause(svc->bst, p->c->id, pause_done, op);
}

void
ts_resume(
    struct task_service *svc, const char *id, ts_reply_fn reply, void *arg)
{
	struct ts_proc *p;
	struct ts_op *op;

	if ((p = proc_lookup(svc, id, NULL, reply, arg)) == NULL)
		return;
	if (svc->ops == NULL || svc->ops->resume == NULL) {
		reply_err(reply, arg, QB_E_UNIMPLEMENTED,
		    "resume is not supported by this backend");
		return;
	}
	if (p->status != TS_PAUSED) {
		reply_err(reply, arg, QB_E_PRECONDITION,
		    "container %s is not paused", id);
		return;
	}
	if ((op = op_new(svc, id, NULL, reply, arg)) == NULL)
		return;
	svc->ops->resume(svc->bst, p->c->id, resume_done, op);
}

#define FORWARD_CHECK(svc, opname, reply, arg)                               \
	do {                                                                 \
		if ((svc)->ops == NULL || (svc)->ops->opname == NULL) {      \
			reply_err(reply, arg, QB_E_UNIMPLEMENTED,            \
			    "%s is not supported by this backend", #opname); \
			return;                                              \
		}                                                            \
	} while (0)

void
ts_resize_pty(struct task_service *svc, const char *id, const char *exec_id,
    uint32_t width, uint32_t height, ts_reply_fn reply, void *arg)
{
	struct ts_proc *p;
	struct ts_op *op;

	if ((p = proc_lookup(svc, id, exec_id, reply, arg)) == NULL)
		return;
	FORWARD_CHECK(svc, resize_pty, reply, arg);
	if ((op = op_new(svc, id, exec_id, reply, arg)) == NULL)
		return;
	svc->ops->resize_pty(
	    svc->bst, p->c->id, p->exec_id, width, height, simple_done, op);
}

void
ts_close_io(struct task_service *svc, const char *id, const char *exec_id,
    bool stdin_close, ts_reply_fn reply, void *arg)
{
	struct ts_proc *p;
	struct ts_op *op;

	if ((p = proc_lookup(svc, id, exec_id, reply, arg)) == NULL)
		return;
	FORWARD_CHECK(svc, close_io, reply, arg);
	if ((op = op_new(svc, id, exec_id, reply, arg)) == NULL)
		return;
	svc->ops->close_io(
	    svc->bst, p->c->id, p->exec_id, stdin_close, simple_done, op);
}

void
ts_update(struct task_service *svc, const struct backend_update_req *req,
    ts_reply_fn reply, void *arg)
{
	struct ts_op *op;

	if (proc_lookup(svc, req->id, NULL, reply, arg) == NULL)
		return;
	FORWARD_CHECK(svc, update, reply, arg);
	if ((op = op_new(svc, req->id, NULL, reply, arg)) == NULL)
		return;
	svc->ops->update(svc->bst, req, simple_done, op);
}

void
ts_pids(struct task_service *svc, const char *id, ts_reply_fn reply, void *arg)
{
	struct ts_proc *p;
	struct ts_op *op;

	if ((p = proc_lookup(svc, id, NULL, reply, arg)) == NULL)
		return;
	FORWARD_CHECK(svc, pids, reply, arg);
	if ((op = op_new(svc, id, NULL, reply, arg)) == NULL)
		return;
	svc->ops->pids(svc->bst, p->c->id, simple_done, op);
}

void
ts_stats(struct task_service *svc, const char *id, ts_reply_fn reply, void *arg)
{
	struct ts_proc *p;
	struct ts_op *op;

	if ((p = proc_lookup(svc, id, NULL, reply, arg)) == NULL)
		return;
	FORWARD_CHECK(svc, stats, reply, arg);
	if ((op = op_new(svc, id, NULL, reply, arg)) == NULL)
		return;
	svc->ops->stats(svc->bst, p->c->id, simple_done, op);
}

void
ts_checkpoint(struct task_service *svc, const char *id, const char *path,
    ts_reply_fn reply, void *arg)
{
	struct ts_proc *p;
	struct ts_op *op;

	if ((p = proc_lookup(svc, id, NULL, reply, arg)) == NULL)
		return;
	FORWARD_CHECK(svc, checkpoint, reply, arg);
	if ((op = op_new(svc, id, NULL, reply, arg)) == NULL)
		return;
	svc->ops->checkpoint(svc->bst, p->c->id, nz(path), simple_done, op);
}

/* ---- State, Wait, Connect, Shutdown ---- */

void
ts_state(struct task_service *svc, const char *id, const char *exec_id,
    ts_reply_fn reply, void *arg)
{
	struct ts_proc *p;
	struct ts_answer ans;

	if ((p = proc_lookup(svc, id, exec_id, reply, arg)) == NULL)
		return;
	memset(&ans, 0, sizeof(ans));
	ans.id = p->c->id;
	ans.exec_id = p->exec_id;
	ans.bundle = p->c->bundle;
	ans.pid = p->pid;
	ans.status = p->status;
	ans.stdin_path = p->stdin_path;
	ans.stdout_path = p->stdout_path;
	ans.stderr_path = p->stderr_path;
	ans.terminal = p->terminal;
	ans.exit_status = p->exit_status;
	ans.exited_at = p->exited_at;
	reply(arg, &ans, NULL);
}

void
ts_wait(struct task_service *svc, const char *id, const char *exec_id,
    ts_reply_fn reply, void *arg)
{
	struct ts_proc *p;
	struct ts_waiter *w;
	struct ts_answer ans;

	if ((p = proc_lookup(svc, id, exec_id, reply, arg)) == NULL)
		return;
	if (p->status == TS_STOPPED) {
		memset(&ans, 0, sizeof(ans));
		ans.pid = p->pid;
		ans.exit_status = p->exit_status;
		ans.exited_at = p->exited_at;
		reply(arg, &ans, NULL);
		return;
	}
	if ((w = calloc(1, sizeof(*w))) == NULL) {
		reply_err(reply, arg, QB_E_INTERNAL, "out of memory");
		return;
	}
	w->reply = reply;
	w->arg = arg;
	TAILQ_INSERT_TAIL(&p->waiters, w, entry);
}

/*
 * A waiter whose caller went away (its connection closed) must not be
 * answered later: the binding calls this to drop it.
 */
void
ts_wait_cancel(struct task_service *svc, void *arg)
{
	struct ts_container *c;
	struct ts_proc *p;
	struct ts_waiter *w;

#define CANCEL_IN(proc)                                           \
	TAILQ_FOREACH(w, &(proc)->waiters, entry)                 \
	{                                                         \
		if (w->arg == arg) {                              \
			TAILQ_REMOVE(&(proc)->waiters, w, entry); \
			free(w);                                  \
			return;                                   \
		}                                                 \
	}
	TAILQ_FOREACH(c, &svc->containers, entry)
	{
		if (c->init != NULL)
			CANCEL_IN(c->init);
		TAILQ_FOREACH(p, &c->execs, entry)
		{
			CANCEL_IN(p);
		}
	}
#undef CANCEL_IN
}

void
ts_connect(
    struct task_service *svc, const char *id, ts_reply_fn reply, void *arg)
{
	struct ts_container *c = container_find(svc, nz(id));
	struct ts_answer ans;

	memset(&ans, 0, sizeof(ans));
	ans.shim_pid = (uint32_t)getpid();
	if (c != NULL && c->init != NULL && !c->creating)
		ans.task_pid = c->init->pid;
	reply(arg, &ans, NULL);
}

static void
shutdown_done(
    void *arg, const struct backend_result *res, const struct qb_error *err)
{
	struct task_service *svc = arg;

	(void)res;
	if (failed(err))
		log_warnx("shutdown: backend: %s", err->msg);
	if (svc->on_exit != NULL)
		svc->on_exit(svc->exit_arg);
}

static void
service_exit(struct task_service *svc)
{
	if (svc->exiting)
		return;
	svc->exiting = true;
	if (svc->on_closing != NULL)
		svc->on_closing(svc->closing_arg);
	if (svc->ops != NULL && svc->ops->shutdown != NULL)
		svc->ops->shutdown(svc->bst, shutdown_done, svc);
	else
		shutdown_done(svc, NULL, NULL);
}

void
ts_shutdown(struct task_service *svc, const char *id, bool now,
    ts_reply_fn reply, void *arg)
{
	(void)id;
	(void)now;
	reply_ok(reply, arg);
	/* Other containers of the group still need us (pods). */
	if (!TAILQ_EMPTY(&svc->containers))
		return;
	service_exit(svc);
}

void
task_service_terminate(struct task_service *svc)
{
	log_info(
	    "%s: %zu container(s) left", __func__, task_service_count(svc));
	service_exit(svc);
}
