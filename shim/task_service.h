/*
 * The Task service core: containers, their init and exec processes, the
 * state machine (created/running/paused/stopped), Wait, and the order of
 * events. It knows neither ttrpc nor protobuf: shim/task_ttrpc.c decodes a
 * request, calls ts_*() and encodes the answer; the backend (backend.h)
 * does the work. Every ts_*() answers exactly once through `reply`, maybe
 * before it returns, maybe much later (Create, Wait); request strings must
 * stay valid until then.
 */
#ifndef QEMUBOX_SHIM_TASK_SERVICE_H
#define QEMUBOX_SHIM_TASK_SERVICE_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "lib/error.h"
#include "shim/backend.h"

/* containerd.v1.types.Status */
enum ts_status {
	TS_UNKNOWN = 0,
	TS_CREATED = 1,
	TS_RUNNING = 2,
	TS_STOPPED = 3,
	TS_PAUSED = 4,
	TS_PAUSING = 5,
};

enum ts_event_kind {
	TS_EV_CREATE,       /* /tasks/create */
	TS_EV_START,        /* /tasks/start */
	TS_EV_EXIT,         /* /tasks/exit */
	TS_EV_DELETE,       /* /tasks/delete */
	TS_EV_OOM,          /* /tasks/oom */
	TS_EV_EXEC_ADDED,   /* /tasks/exec-added */
	TS_EV_EXEC_STARTED, /* /tasks/exec-started */
	TS_EV_PAUSED,       /* /tasks/paused */
	TS_EV_RESUMED,      /* /tasks/resumed */
};

struct ts_event {
	enum ts_event_kind kind;
	const char *container_id;
	/* exec id; for TS_EV_EXIT of init it is the container id (CRI looks
	 * exits up by it), for TS_EV_DELETE of init it is "". */
	const char *id;
	uint32_t pid;
	uint32_t exit_status;
	struct timespec exited_at;
	const struct backend_create_req *create; /* TS_EV_CREATE only */
};

typedef void (*ts_event_fn)(void *arg, const struct ts_event *ev);

/* What a reply carries; which fields matter depends on the call. */
struct ts_answer {
	uint32_t pid;
	uint32_t exit_status;
	struct timespec exited_at;
	/* State */
	const char *id, *exec_id, *bundle;
	const char *stdin_path, *stdout_path, *stderr_path;
	bool terminal;
	enum ts_status status;
	/* Connect */
	uint32_t shim_pid, task_pid;
	/* Pids, Stats: straight from the backend */
	const struct backend_result *res;
};

/* err == NULL: success. */
typedef void (*ts_reply_fn)(
    void *arg, const struct ts_answer *ans, const struct qb_error *err);

struct task_service;

/*
 * `missing` (may be NULL): why containers cannot be created at all (a
 * helper binary not found, the config invalid); Create answers with it.
 * on_exit is called (once, from a callback) when the shim should exit.
 */
struct task_service *task_service_new(const struct backend_ops *ops,
    void *backend_state, const char *missing, ts_event_fn on_event,
    void *event_arg, void (*on_exit)(void *arg), void *exit_arg);
void task_service_free(struct task_service *svc);
/*
 * on_closing is called once, as the service starts to wind down (no
 * container left after a Shutdown, or a signal), before the backend tears
 * the sandbox down: the shim stops being found by a new `start` then.
 */
void task_service_set_on_closing(
    struct task_service *svc, void (*on_closing)(void *arg), void *arg);
/* Backend state is created after the service (it needs svc): set it. */
void task_service_set_backend(struct task_service *svc,
    const struct backend_ops *ops, void *backend_state);
size_t task_service_count(const struct task_service *svc);

void ts_create(struct task_service *svc, const struct backend_create_req *req,
    ts_reply_fn reply, void *arg);
void ts_start(struct task_service *svc, const char *id, const char *exec_id,
    ts_reply_fn reply, void *arg);
void ts_delete(struct task_service *svc, const char *id, const char *exec_id,
    ts_reply_fn reply, void *arg);
void ts_exec(struct task_service *svc, const struct backend_exec_req *req,
    ts_reply_fn reply, void *arg);
void ts_kill(struct task_service *svc, const char *id, const char *exec_id,
    uint32_t signal, bool all, ts_reply_fn reply, void *arg);
void ts_state(struct task_service *svc, const char *id, const char *exec_id,
    ts_reply_fn reply, void *arg);
void ts_wait(struct task_service *svc, const char *id, const char *exec_id,
    ts_reply_fn reply, void *arg);
void ts_pause(
    struct task_service *svc, const char *id, ts_reply_fn reply, void *arg);
void ts_resume(
    struct task_service *svc, const char *id, ts_reply_fn reply, void *arg);
void ts_resize_pty(struct task_service *svc, const char *id,
    const char *exec_id, uint32_t width, uint32_t height, ts_reply_fn reply,
    void *arg);
void ts_close_io(struct task_service *svc, const char *id, const char *exec_id,
    bool stdin_close, ts_reply_fn reply, void *arg);
void ts_update(struct task_service *svc, const struct backend_update_req *req,
    ts_reply_fn reply, void *arg);
void ts_pids(
    struct task_service *svc, const char *id, ts_reply_fn reply, void *arg);
void ts_stats(
    struct task_service *svc, const char *id, ts_reply_fn reply, void *arg);
void ts_checkpoint(struct task_service *svc, const char *id, const char *path,
    ts_reply_fn reply, void *arg);
/* Forget a pending Wait whose caller is gone (its `arg`). */
void ts_wait_cancel(struct task_service *svc, void *arg);
void ts_connect(
    struct task_service *svc, const char *id, ts_reply_fn reply, void *arg);
/* Exits (on_exit) only when no container remains, as the runc shim does. */
void ts_shutdown(struct task_service *svc, const char *id, bool now,
    ts_reply_fn reply, void *arg);
/* SIGTERM/SIGINT: stop the backend and exit whatever remains. */
void task_service_terminate(struct task_service *svc);

/*
 * From the backend: a process it started has exited. exec_id "" = init.
 * exit_status is what containerd shows: the exit code, or 128+signal.
 * An exit that arrives while Start is still in flight is held back until
 * TaskStart has been published.
 */
void task_service_exited(struct task_service *svc, const char *id,
    const char *exec_id, uint32_t pid, uint32_t exit_status,
    const struct timespec *exited_at);
void task_service_oom(struct task_service *svc, const char *id);

/* exit code, or 128+signal, from a waitpid() status. */
uint32_t ts_exit_status_from_wait(int wstatus);

#endif
