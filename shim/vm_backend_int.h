/*
 * What the two halves of the VM backend share (private to them): the
 * sandbox (struct vmb, shim/vm_sandbox.c: network, VM, guest channel,
 * share, hotplug, lifecycle) and its containers (struct vmb_ctr,
 * shim/vm_container.c: storage, disks, stdio, guest processes). The ops
 * table is shim/vm_backend.c.
 */
#ifndef QEMUBOX_SHIM_VM_BACKEND_INT_H
#define QEMUBOX_SHIM_VM_BACKEND_INT_H

#include <sys/queue.h>

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <json-c/json.h>

#include "imsg/qemubox_imsg.h"
#include "lib/config.h"
#include "lib/error.h"
#include "shim/backend.h"
#include "shim/layer_cache.h"
#include "shim/oci_spec.h"
#include "shim/storage.h"
#include "shim/vmmon_client.h"

#define VMB_CALL_TIMEOUT_MS 30000

enum vm_state { VM_NONE, VM_BOOTING, VM_READY, VM_STOPPING, VM_DEAD };

struct vmb;
struct vmb_ctr;

struct vmb_proc {
	TAILQ_ENTRY(vmb_proc) entry;
	struct vmb_ctr *ctr;
	char exec_id[128];
	uint32_t pid;
	bool exited;
	struct stdio_relay *relay;
};

struct vmb_ctr {
	TAILQ_ENTRY(vmb_ctr) entry;
	struct vmb *b;
	char id[128];
	char bundle[PATH_MAX];
	struct storage_plan plan;
	TAILQ_HEAD(, vmb_proc) procs;
	/* A pod's later container: its disks are hot-added SCSI LUNs. */
	bool later;
	uint32_t luns[QB_VMM_MAX_LUNS];
	size_t n_luns;
	/* ... and its directory binds joined the VM's share at these slots. */
	uint32_t slots[QB_FS_MAX_VOLUMES];
	size_t n_slots;
};

/* The first Create, in flight: what to undo if a step fails. */
struct vmb_create {
	struct vmb *b;
	struct vmb_ctr *ctr;
	const struct backend_create_req *req;
	backend_done_fn done;
	void *arg;
	struct json_object *spec;
	struct oci_spec_info si; /* sandbox id, kind, netns, size */
	struct oci_vm_size size; /* the first container: the VM's */
	struct storage_prepare *prep;
	struct stdio_relay *relay;
	struct timespec t0;
	uint64_t t_net, t_disks, t_vm, t_ready, t_guest;
	uint64_t t_wired; /* own netns: the CNI chain done (NET_WIRE) */
	struct ev_timer *vsock_retry; /* vsock: waiting for the listener */
	size_t next_disk; /* later container: the next disk to hot-add */
	/*
	 * The guest Create went without waiting for ConfigureNetwork's answer
	 * (right behind it, or ahead of it while the CNI chain still ran):
	 * the Create is answered once both are done (vm_sandbox.c).
	 */
	bool create_early, guest_created, net_configured;
};

struct vmb {
	struct backend_env env;
	struct qb_config cfg;
	struct layer_cache lc;
	char sandbox_id[QB_ID_MAX];
	char log_dir[PATH_MAX];

	struct privnet_client *pn;
	struct ev_io *pn_io;
	bool net_up;
	struct qb_net_result net;
	/*
	 * Own netns: the VM boots with the TAP while privnet runs the CNI
	 * chain (NET_WIRE); ConfigureNetwork waits for it (net_wait).
	 */
	bool net_wiring, net_wait;
	/* The Create whose START is in flight (NULL once it failed). */
	struct vmb_create *starting;

	struct vmmon_client *vm;
	struct vmmon_events vm_events;
	int fsd_fd; /* qemubox-fsd (volumes), -1 if absent; not ours */
	enum vm_state state;
	int qemu_pid;
	enum qb_vmm_transport transport;
	uint32_t guest_cid; /* vsock */

	struct guest_client *gc;
	struct sandbox_hotplug *hp;  /* NULL: the VM keeps its boot size */
	int chan_fd;                 /* our end of the guest channel */
	unsigned long unknown_exits; /* Exit events for no process of ours */

	struct vmb_create *creating;
	TAILQ_HEAD(, vmb_ctr) ctrs;
	bool pod;                /* CRI sandbox: VM has a SCSI bus */
	bool fs_spare;           /* the share takes volumes while it runs */
	uint32_t fs_first_spare; /* its first spare slot */
	uint64_t fs_used;        /* bit i: spare slot i holds a volume */
	bool lun_used[QB_VMM_MAX_LUNS]; /* LUNs of later containers */
	unsigned later_seq;             /* names later containers' disks */

	backend_done_fn shutdown_done;
	void *shutdown_arg;

	/* A clone of qemubox-tmpl's template (shim/vm_clone.c). */
	bool cloned;
	uint8_t tmpl_mac[6]; /* its NIC's MAC, until ConfigureNetwork */
	char clone_cmdline[QB_VMM_CMDLINE_MAX]; /* the template's */
};

/* ---- shim/vm_sandbox.c ---- */

/* The first Create's disks are ready: network, VM, guest, then
 * vmb_create_guest_container. */
void vmb_boot(struct vmb_create *cr);
/* The first Create failed: guest, VM and network go, in that order. */
void vmb_boot_undo(struct vmb *b);
/* The VM, the guest or the channel is gone: fail what waits, end the rest. */
void vmb_vm_dead(struct vmb *b, const char *why);
/* The hotplug controller for the VM's real boot size; NULL when nothing can
 * change (vm_sandbox.c). */
struct sandbox_hotplug *vmb_hotplug_start(
    struct vmb *b, const struct oci_vm_size *size);
uint64_t vmb_ms_since(const struct timespec *t0);
/* The guest is ready (booted, or a clone with its identity): network,
 * then the container. boot_ms: the guest's boot time, 0 if unknown. */
void vmb_guest_ready(struct vmb_create *cr, uint64_t boot_ms);

/* ---- shim/vm_clone.c ---- */

/* runtime.clone: sp (a cold boot's START) rewritten into a clone's; 1 =
 * clone (sp holds the holder's RAM and state fds, the caller's to close
 * after sending), 0 = cold boot (a debug line says why). */
int vmb_clone_params(struct vmb_create *cr, struct vm_start_params *sp);
/* vmmon started the clone: SetIdentity, then vmb_guest_ready. */
void vmb_clone_started(struct vmb_create *cr);

int vmb_init(const struct backend_env *env, void **state, struct qb_error *err);
void vmb_fini(void *st);
void vmb_shutdown(void *st, backend_done_fn done, void *arg);

/* ---- shim/vm_container.c ---- */

struct vmb_ctr *vmb_ctr_find(struct vmb *b, const char *id);
struct vmb_proc *vmb_proc_find(struct vmb_ctr *c, const char *exec_id);
/* Gives back its LUNs and share slots, frees its processes. */
void vmb_ctr_free(struct vmb_ctr *c);

void vmb_done_err(backend_done_fn done, void *arg, int code, const char *fmt,
    ...) __attribute__((format(printf, 4, 5)));
void vmb_done_ok(backend_done_fn done, void *arg, uint32_t pid);

/* Undo a Create (the container; the sandbox too if it was the first). */
void vmb_create_fail(struct vmb_create *cr, const struct qb_error *err);
void vmb_create_failf(struct vmb_create *cr, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The VM is ready for the container: guest Create. */
void vmb_create_guest_container(struct vmb_create *cr);
/* The container is created (and the network configured): answer Create. */
void vmb_create_done(struct vmb_create *cr);

void vmb_create(void *st, const struct backend_create_req *req,
    backend_done_fn done, void *arg);
void vmb_start(void *st, const char *id, const char *exec_id,
    backend_done_fn done, void *arg);
void vmb_delete(void *st, const char *id, const char *exec_id,
    backend_done_fn done, void *arg);
void vmb_exec(void *st, const struct backend_exec_req *req,
    backend_done_fn done, void *arg);
void vmb_kill(void *st, const char *id, const char *exec_id, uint32_t sig,
    bool all, backend_done_fn done, void *arg);
void vmb_pause(void *st, const char *id, backend_done_fn done, void *arg);
void vmb_resume(void *st, const char *id, backend_done_fn done, void *arg);
void vmb_resize_pty(void *st, const char *id, const char *exec_id, uint32_t w,
    uint32_t h, backend_done_fn done, void *arg);
void vmb_close_io(void *st, const char *id, const char *exec_id,
    bool stdin_close, backend_done_fn done, void *arg);
void vmb_update(void *st, const struct backend_update_req *req,
    backend_done_fn done, void *arg);
void vmb_pids(void *st, const char *id, backend_done_fn done, void *arg);
void vmb_stats(void *st, const char *id, backend_done_fn done, void *arg);

#endif
