/*
 * The interface between the Task service (shim/task_service.c) and what
 * actually runs containers (the VM backend, shim/vm_backend.c).
 *
 * Every operation is asynchronous: it gets a completion `done(arg, res, err)`
 * that the backend calls exactly once, later from the event loop or before
 * the op returns. err == NULL (or err->code == QB_E_OK) means success; on
 * failure err carries the gRPC code and message containerd will show. A
 * NULL op means "not supported": the service answers Unimplemented, never a
 * fake success. The id and exec_id strings an op gets are the service's own
 * copies and stay valid until that process is deleted (after `delete`'s
 * done); the request structs (create, exec, update) only until `done` is
 * called; `res` and `err` only for the duration of the `done` call.
 *
 * The backend reports what happens on its own through task_service_exited()
 * and task_service_oom() (shim/task_service.h): every process it started
 * must end with exactly one exit report (also when the VM or a helper dies).
 *
 * A backend exports its ops table (shim/vm_backend.c: vm_backend_ops) and
 * a binary's main() names it in its struct shim_wiring (shim/shim_main.h):
 * a backend missing from the link line is a link error, never a shim that
 * silently serves without one.
 */
#ifndef QEMUBOX_SHIM_BACKEND_H
#define QEMUBOX_SHIM_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/config.h"
#include "lib/error.h"

struct evloop;
struct task_service;

/* containerd.types.Mount */
struct backend_mount {
	const char *type;
	const char *source;
	const char *target; /* "" in containerd 1.6 */
	const char *const *options;
	size_t n_options;
};

/* FIFO paths or URIs (binary://, file://) from containerd; "" = not wanted. */
struct backend_stdio {
	const char *stdin_path;
	const char *stdout_path;
	const char *stderr_path;
	bool terminal;
};

struct backend_create_req {
	const char *ns;
	const char *id;
	const char *bundle; /* holds config.json and the empty rootfs/ */
	const struct backend_mount *rootfs;
	size_t n_rootfs;
	struct backend_stdio io;
	const char *checkpoint;
	const char *parent_checkpoint;
	/* CreateTaskRequest.options (an Any); type_url "" when absent. */
	const char *options_type_url;
	const uint8_t *options;
	size_t options_len;
};

struct backend_exec_req {
	const char *ns;
	const char *id;
	const char *exec_id;
	struct backend_stdio io;
	/* ExecProcessRequest.spec: JSON of the OCI Process. */
	const char *spec_type_url;
	const uint8_t *spec;
	size_t spec_len;
};

struct backend_update_req {
	const char *id;
	/* UpdateTaskRequest.resources: JSON of the OCI LinuxResources. */
	const char *resources_type_url;
	const uint8_t *resources;
	size_t resources_len;
	const char *const *annotation_keys;
	const char *const *annotation_values;
	size_t n_annotations;
};

struct backend_result {
	uint32_t pid;         /* create, start, exec: the process's pid */
	const uint32_t *pids; /* pids */
	size_t n_pids;
	const char
	    *stats_type_url; /* stats: io.containerd.cgroups.v2.Metrics */
	const uint8_t *stats;
	size_t stats_len;
};

typedef void (*backend_done_fn)(
    void *arg, const struct backend_result *res, const struct qb_error *err);

/* What a backend gets once, at daemon start. */
struct backend_env {
	struct evloop *loop;
	struct task_service *svc;
	const char *ns;
	const struct qb_config *cfg; /* NULL if the config did not load */
	int privnet_fd; /* imsg socket to qemubox-privnet, -1 if absent */
	int vmmon_fd;   /* imsg socket to qemubox-vmmon, -1 if absent */
	int spawner_fd; /* imsg socket to qemubox-spawner, -1 if absent */
	int privnet_pid;
	int vmmon_pid;
	int fsd_fd; /* imsg socket to qemubox-fsd (volumes), -1 if absent */
	int fsd_pid;
};

struct backend_ops {
	const char *name;
	/* Needs neither the helpers nor the config file (test backends). */
	bool standalone;
	int (*init)(
	    const struct backend_env *env, void **state, struct qb_error *err);
	void (*fini)(void *state);

	void (*create)(void *st, const struct backend_create_req *req,
	    backend_done_fn done, void *arg);
	/* exec_id "" = the container's init process. */
	void (*start)(void *st, const char *id, const char *exec_id,
	    backend_done_fn done, void *arg);
	/* After the process exited (or never started): free its resources. */
	void (*delete)(void *st, const char *id, const char *exec_id,
	    backend_done_fn done, void *arg);
	void (*exec)(void *st, const struct backend_exec_req *req,
	    backend_done_fn done, void *arg);
	void (*kill)(void *st, const char *id, const char *exec_id,
	    uint32_t signal, bool all, backend_done_fn done, void *arg);
	void (*pause)(
	    void *st, const char *id, backend_done_fn done, void *arg);
	void (*resume)(
	    void *st, const char *id, backend_done_fn done, void *arg);
	void (*resize_pty)(void *st, const char *id, const char *exec_id,
	    uint32_t width, uint32_t height, backend_done_fn done, void *arg);
	void (*close_io)(void *st, const char *id, const char *exec_id,
	    bool stdin_close, backend_done_fn done, void *arg);
	void (*update)(void *st, const struct backend_update_req *req,
	    backend_done_fn done, void *arg);
	void (*pids)(void *st, const char *id, backend_done_fn done, void *arg);
	void (*stats)(
	    void *st, const char *id, backend_done_fn done, void *arg);
	void (*checkpoint)(void *st, const char *id, const char *path,
	    backend_done_fn done, void *arg);
	/*
	 * The last container is gone and the shim is about to exit: stop the
	 * VM and release the sandbox (bounded in time), then call done.
	 */
	void (*shutdown)(void *st, backend_done_fn done, void *arg);

	/*
	 * Synchronous, from the `delete` CLI action in a fresh process with
	 * no daemon state: kill the VM / tear down the network recorded for
	 * <ns>/<id> in the state dir. Return 0 (doing nothing) when no state
	 * exists; -1 with err only for a real failure.
	 */
	int (*cleanup_orphan)(const char *ns, const char *id,
	    const char *bundle, struct qb_error *err);
};

#endif
