/*
 * The shim's side of qemubox-vmmon: stubs with the signatures of the
 * operations (OpenSSH monitor_wrap style) so nobody builds a vmmon imsg by
 * hand; they sit on the shim's imsg client core (shim/imsg_client.h).
 * Every request carries a fresh imsg peerid; vmmon's answer (its
 * *_RES or IMSG_ERROR) carries it back, so requests may overlap.
 *
 * Two forms: *_async() queue the request and call `done` later from the
 * event loop; the blocking forms run the loop (evloop_run_once) until their
 * answer arrives, dispatching everything else meanwhile. Unsolicited events
 * (VM exited, guest events, vmmon gone) go to struct vmmon_events.
 *
 * fds in vm_start_params stay the caller's: the stubs send duplicates.
 * Callbacks run inside the client's dispatch: free the client from an
 * evloop_defer(), never from a callback. After a failed START the VM's
 * IMSG_VMM_EXIT_EVT (reason START_FAILED) may still follow.
 */
#ifndef QEMUBOX_SHIM_VMMON_CLIENT_H
#define QEMUBOX_SHIM_VMMON_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imsg/qemubox_imsg.h"
#include "lib/error.h"

struct evloop;
struct vmmon_client;

struct vm_disk_param {
	int fd; /* O_RDONLY when readonly, else O_RDWR */
	bool readonly;
	const char *serial; /* <= 20 of [A-Za-z0-9_.-], may be NULL */
};

struct vm_start_params {
	const char *id;               /* sandbox id, [A-Za-z0-9_.-] */
	unsigned boot_cpus, max_cpus; /* max > boot: CPU hotplug (q35) */
	unsigned memory_mb, max_memory_mb, memory_slots; /* slots: DIMMs */
	enum qb_vmm_machine machine; /* AUTO: q35 iff hotplug */
	enum qb_vmm_accel accel;     /* AUTO: kvm iff vmmon's probe passed */
	enum qb_vmm_transport transport;
	unsigned guest_cid; /* vsock only */
	int kernel_fd, initrd_fd;
	int channel_fd;     /* QEMU's end of the guest channel */
	int console_log_fd; /* console.log (O_WRONLY|O_APPEND), -1 */
	int tap_fd;         /* -1: no NIC */
	uint8_t mac[6];
	int vhost_vsock_fd; /* vsock only, else -1 */
	int fs_fd; /* virtiofsd's vhost-user socket (volumes); 0 or -1: none */
	unsigned ndisks;
	struct vm_disk_param disks[QB_VMM_MAX_DISKS];
	uint64_t console_max_bytes; /* 0: vmmon's default, 16 MiB */
	const char *cmdline;        /* extra kernel cmdline, may be NULL */
	bool hotplug_disks; /* a SCSI bus for vmmon_disk_add_async (pods) */
	/* ANON (0): as before; TEMPLATE/CLONE: both fds below are sent */
	enum qb_vmm_ram_mode ram_mode;
	int ram_fd;   /* the RAM memfd (QB_VMM_FD_RAM) */
	int state_fd; /* the device state (QB_VMM_FD_STATE) */
};

struct vmmon_events {
	/* QEMU is gone (once per VM). */
	void (*exited)(void *arg, const struct qb_vmm_exit_evt *ev);
	/* Informational: powerdown, reset, device deleted, ... May be NULL. */
	void (*guest_event)(void *arg, const struct qb_vmm_guest_evt *ev);
	/*
	 * vmmon closed the channel or broke the protocol; vmmon kills QEMU
	 * when it goes, so the VM is gone too. Pending requests fail first.
	 */
	void (*lost)(void *arg);
	void *arg;
};

/*
 * The answer to one request: res/len is the *_RES payload (exact size
 * checked; len 0 for empty answers), or res == NULL and err says why.
 */
typedef void (*vmmon_reply_fn)(
    void *arg, const void *res, size_t len, const struct qb_error *err);

/* Takes fd (the imsg socket to vmmon). */
struct vmmon_client *vmmon_client_new(
    struct evloop *loop, int fd, const struct vmmon_events *ev);
/* Fails pending requests (err "closed"), closes the fd. */
void vmmon_client_free(struct vmmon_client *c);

/* ---- async ---- */
int vmmon_vm_start_async(struct vmmon_client *c,
    const struct vm_start_params *p, vmmon_reply_fn done, void *arg,
    struct qb_error *err);
/*
 * Any other request: type IMSG_VMM_*_REQ with its payload (NULL/0 for the
 * empty ones). The reply payload is the matching *_RES struct.
 */
int vmmon_request_async(struct vmmon_client *c, uint32_t type, const void *req,
    size_t len, vmmon_reply_fn done, void *arg, struct qb_error *err);

/*
 * A disk into the running VM (started with hotplug_disks) as SCSI LUN lun;
 * d->fd is duplicated. The reply is a qb_vmm_disk_res. Removal:
 * vmmon_request_async(IMSG_VMM_DISK_DEL_REQ, qb_vmm_disk_del_req).
 */
int vmmon_disk_add_async(struct vmmon_client *c, uint32_t lun,
    const struct vm_disk_param *d, vmmon_reply_fn done, void *arg,
    struct qb_error *err);

/* ---- blocking ---- */
int vmmon_vm_start(struct vmmon_client *c, const struct vm_start_params *p,
    struct qb_vmm_start_res *res, struct qb_error *err);
int vmmon_vm_status(struct vmmon_client *c, struct qb_vmm_status_res *res,
    struct qb_error *err);
int vmmon_vm_pause(struct vmmon_client *c, struct qb_error *err);
int vmmon_vm_resume(struct vmmon_client *c, struct qb_error *err);
/* powerdown -> quit -> SIGKILL, timeout_ms per step (0: vmmon's -t). */
int vmmon_vm_shutdown(
    struct vmmon_client *c, uint64_t timeout_ms, struct qb_error *err);
int vmmon_cpu_add(
    struct vmmon_client *c, struct qb_vmm_cpu_res *res, struct qb_error *err);
int vmmon_cpu_del(
    struct vmmon_client *c, struct qb_vmm_cpu_res *res, struct qb_error *err);
int vmmon_cpu_query(
    struct vmmon_client *c, struct qb_vmm_cpu_res *res, struct qb_error *err);
int vmmon_disk_add(struct vmmon_client *c, uint32_t lun,
    const struct vm_disk_param *d, struct qb_vmm_disk_res *res,
    struct qb_error *err);
int vmmon_disk_del(struct vmmon_client *c, uint32_t lun,
    struct qb_vmm_disk_res *res, struct qb_error *err);
int vmmon_mem_add(struct vmmon_client *c, uint64_t size_mb,
    struct qb_vmm_mem_res *res, struct qb_error *err);
int vmmon_mem_del(
    struct vmmon_client *c, struct qb_vmm_mem_res *res, struct qb_error *err);
int vmmon_mem_query(
    struct vmmon_client *c, struct qb_vmm_mem_res *res, struct qb_error *err);
/*
 * Template mode: save the device state into the state fd; QEMU has quit
 * and been reaped when this returns 0 (the EXIT_EVT came first).
 */
int vmmon_vm_save(
    struct vmmon_client *c, struct qb_vmm_save_res *res, struct qb_error *err);

#endif
