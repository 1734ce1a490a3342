/*
 * A backend that runs nothing: linked into build/test/containerd-shim-
 * qbfake-v1 so the integration tests can drive the real shim (CLI, ttrpc,
 * Task service, events, Wait, Delete, Shutdown) against a real containerd
 * without a VM. The container's "program" is its OCI process.args:
 *   exit N       exits with status N right after Start
 *   sleep S      runs S seconds (or until killed: 128+signal)
 * Every op completes asynchronously on the event loop, as a VM would.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "lib/evloop.h"
#include "lib/log.h"
#include "shim/backend.h"
#include "tests/integration/shim_fake_main.h"
#include "shim/task_service.h"

#define MS 1000000ull

struct fproc {
	char id[128];
	char exec_id[128];
	uint32_t pid;
	int exit_code;    /* for "exit N" */
	unsigned sleep_s; /* for "sleep S" */
	bool exited;
	struct ev_timer *timer;
	struct fproc *next;
};

struct fake {
	struct evloop *loop;
	struct task_service *svc;
	struct fproc *procs;
	uint32_t next_pid;
};

struct later {
	backend_done_fn done;
	void *arg;
	uint32_t pid;
	struct qb_error err;
	bool failed;
};

static void
later_fire(struct ev_timer *t, void *arg)
{
	struct later *l = arg;
	struct backend_result res = {.pid = l->pid};

	(void)t;
	l->done(l->arg, &res, l->failed ? &l->err : NULL);
	free(l);
}

static void
complete_later(struct fake *f, uint64_t delay_ms, backend_done_fn done,
    void *arg, uint32_t pid)
{
	struct later *l = calloc(1, sizeof(*l));

	if (l == NULL) {
		struct qb_error err = {QB_E_INTERNAL, "out of memory"};
		done(arg, NULL, &err);
		return;
	}
	l->done = done;
	l->arg = arg;
	l->pid = pid;
	evloop_timer_add(f->loop, delay_ms * MS, 0, later_fire, l);
}

static struct fproc *
find(struct fake *f, const char *id, const char *exec_id)
{
	struct fproc *p;

	for (p = f->procs; p != NULL; p = p->next)
		if (strcmp(p->id, id) == 0 && strcmp(p->exec_id, exec_id) == 0)
			return p;
	return NULL;
}

static void
exit_now(struct fake *f, struct fproc *p, uint32_t status)
{
	struct timespec now;

	if (p->exited)
		return;
	p->exited = true;
	if (p->timer != NULL) {
		evloop_timer_del(p->timer);
		p->timer = NULL;
	}
	clock_gettime(CLOCK_REALTIME, &now);
	task_service_exited(f->svc, p->id, p->exec_id, p->pid, status, &now);
}

static struct fake *the_fake;

static void
program_done(struct ev_timer *t, void *arg)
{
	struct fproc *p = arg;

	(void)t;
	p->timer = NULL;
	exit_now(the_fake, p, (uint32_t)p->exit_code);
}

static void
parse_program(const char *bundle, struct fproc *p)
{
	char path[4096];
	struct json_object *root, *proc, *args;
	const char *a0 = NULL, *a1 = NULL;

	p->exit_code = 0;
	p->sleep_s = 0;
	snprintf(path, sizeof(path), "%s/config.json", bundle);
	if ((root = json_object_from_file(path)) == NULL)
		return;
	if (json_object_object_get_ex(root, "process", &proc) &&
	    json_object_object_get_ex(proc, "args", &args) &&
	    json_object_is_type(args, json_type_array)) {
		if (json_object_array_length(args) > 0)
			a0 = json_object_get_string(
			    json_object_array_get_idx(args, 0));
		if (json_object_array_length(args) > 1)
			a1 = json_object_get_string(
			    json_object_array_get_idx(args, 1));
	}
	if (a0 != NULL && a1 != NULL && strcmp(a0, "exit") == 0)
		p->exit_code = atoi(a1);
	else if (a0 != NULL && a1 != NULL && strcmp(a0, "sleep") == 0)
		p->sleep_s = (unsigned)atoi(a1);
	json_object_put(root);
}

static struct fproc *
proc_add(struct fake *f, const char *id, const char *exec_id)
{
	struct fproc *p = calloc(1, sizeof(*p));

	if (p == NULL)
		return NULL;
	snprintf(p->id, sizeof(p->id), "%s", id);
	snprintf(p->exec_id, sizeof(p->exec_id), "%s", exec_id);
	p->next = f->procs;
	f->procs = p;
	return p;
}

static int
f_init(const struct backend_env *env, void **state, struct qb_error *err)
{
	struct fake *f = calloc(1, sizeof(*f));

	(void)err;
	if (f == NULL)
		return qb_seterr(err, QB_E_INTERNAL, "out of memory");
	f->loop = env->loop;
	f->svc = env->svc;
	f->next_pid = 4000;
	the_fake = f;
	*state = f;
	log_info(
	    "%s: fake backend (tests only): nothing really runs", __func__);
	return 0;
}

static void
f_fini(void *st)
{
	struct fake *f = st;
	struct fproc *p;

	while ((p = f->procs) != NULL) {
		f->procs = p->next;
		if (p->timer != NULL)
			evloop_timer_del(p->timer);
		free(p);
	}
	free(f);
}

static void
f_create(void *st, const struct backend_create_req *req, backend_done_fn done,
    void *arg)
{
	struct fake *f = st;
	struct fproc *p = proc_add(f, req->id, "");

	if (p == NULL) {
		struct qb_error err = {QB_E_INTERNAL, "out of memory"};
		done(arg, NULL, &err);
		return;
	}
	parse_program(req->bundle, p);
	p->pid = f->next_pid++;
	/* A VM takes a while: answer later, from the loop. */
	complete_later(f, 50, done, arg, p->pid);
}

static void
f_start(void *st, const char *id, const char *exec_id, backend_done_fn done,
    void *arg)
{
	struct fake *f = st;
	struct fproc *p = find(f, id, exec_id);

	if (p == NULL) {
		struct qb_error err = {QB_E_NOTFOUND, "fake: no such process"};
		done(arg, NULL, &err);
		return;
	}
	if (p->pid == 0)
		p->pid = f->next_pid++;
	/* "exit N" ends before Start's answer is out: the service must still
	 * publish TaskStart before TaskExit. */
	p->timer = evloop_timer_add(f->loop,
	    p->sleep_s ? (uint64_t)p->sleep_s * 1000 * MS : 1 * MS, 0,
	    program_done, p);
	complete_later(f, 20, done, arg, p->pid);
}

static void
f_delete(void *st, const char *id, const char *exec_id, backend_done_fn done,
    void *arg)
{
	struct fake *f = st;
	struct fproc **pp, *p;

	for (pp = &f->procs; (p = *pp) != NULL; pp = &p->next) {
		if (strcmp(p->id, id) == 0 &&
		    (strcmp(p->exec_id, exec_id) == 0 || exec_id[0] == '\0')) {
			*pp = p->next;
			if (p->timer != NULL)
				evloop_timer_del(p->timer);
			free(p);
			break;
		}
	}
	complete_later(f, 5, done, arg, 0);
}

static void
f_exec(void *st, const struct backend_exec_req *req, backend_done_fn done,
    void *arg)
{
	struct fake *f = st;
	struct fproc *p = proc_add(f, req->id, req->exec_id);

	if (p == NULL) {
		struct qb_error err = {QB_E_INTERNAL, "out of memory"};
		done(arg, NULL, &err);
		return;
	}
	p->exit_code = 0;
	complete_later(f, 10, done, arg, 0);
}

static void
f_kill(void *st, const char *id, const char *exec_id, uint32_t sig, bool all,
    backend_done_fn done, void *arg)
{
	struct fake *f = st;
	struct fproc *p;

	for (p = f->procs; p != NULL; p = p->next)
		if (strcmp(p->id, id) == 0 &&
		    (strcmp(p->exec_id, exec_id) == 0 || all))
			exit_now(f, p, 128 + sig);
	complete_later(f, 5, done, arg, 0);
}

static void
f_pids(void *st, const char *id, backend_done_fn done, void *arg)
{
	struct fake *f = st;
	struct fproc *p = find(f, id, "");
	uint32_t pid = p != NULL ? p->pid : 0;
	struct backend_result res = {.pids = &pid, .n_pids = p ? 1 : 0};

	done(arg, &res, NULL);
}

#ifndef FAKE_NEEDS_HELPERS
#define FAKE_NEEDS_HELPERS 0
#endif

/* The -helpers variant makes the daemon fork privnet and vmmon. */
const struct backend_ops fake_backend_ops = {
    .name = "fake",
    .standalone = !FAKE_NEEDS_HELPERS,
    .init = f_init,
    .fini = f_fini,
    .create = f_create,
    .start = f_start,
    .delete = f_delete,
    .exec = f_exec,
    .kill = f_kill,
    .pids = f_pids,
};
