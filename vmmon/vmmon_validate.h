/*
 * vmmon's validate step: every request from the shim passes here, whole,
 * before anything acts on it (OpenSSH monitor style). A permit table says
 * which request type is allowed in which phase of the VM; the payload's
 * exact size, its fd, its strings and values, and the fds staged for a
 * START are checked in this one place. Pure: no I/O, no globals; the
 * caller describes its state in a vmmon_view.
 */
#ifndef QEMUBOX_VMMON_VALIDATE_H
#define QEMUBOX_VMMON_VALIDATE_H

#include <stddef.h>
#include <stdint.h>

#include "imsg/qemubox_imsg.h"
#include "lib/error.h"

enum vmmon_phase {
	VMMON_STAGING,  /* no VM yet: fds are staged, then START */
	VMMON_STARTING, /* START taken, START_RES not sent yet */
	VMMON_RUNNING,  /* START_RES sent */
	VMMON_STOPPING, /* a SHUTDOWN is in progress */
	VMMON_EXITED,   /* QEMU is gone; this vmmon runs no other VM */
	VMMON_PHASES
};

enum vmmon_verdict {
	/* Out of order or malformed: qb_imsg_kill_peer (see qemubox_imsg.h). */
	VMMON_VIOLATION = 0,
	VMMON_ACT,    /* valid: act on it */
	VMMON_REFUSE, /* valid, but not possible now: answer IMSG_ERROR */
};

/* A LUN of the pod's SCSI bus (vm.lun_state, vmmon_view.lun_state). */
enum { LUN_FREE, LUN_BUSY, LUN_USED };

/* What the validator needs to know about vmmon's state. */
struct vmmon_view {
	enum vmmon_phase phase;
	uint32_t staged_roles; /* bit (1 << role) per staged non-disk fd */
	uint32_t staged_disks; /* bit (1 << index) per staged disk fd */
	uint32_t machine;      /* of the started VM (START_RES) */
	uint32_t accel;        /* of the started VM (START_RES) */
	uint32_t scsi;         /* the VM has the pod's SCSI bus */
	uint32_t ram_mode;     /* of the started VM (qb_vmm_ram_mode) */
	uint8_t lun_state[QB_VMM_MAX_LUNS]; /* LUN_FREE, LUN_BUSY, LUN_USED */
};

/* A request as it came: one imsg, its payload and its fd (-1 if none). */
struct vmmon_msg {
	uint32_t type;
	const void *data;
	size_t len;
	int fd;
	int fd_flags; /* fcntl(fd, F_GETFL) by the caller, -1 if no fd */
};

/* A request that passed: its payload copied out, trusted from here on. */
struct vmmon_request {
	uint32_t type;
	union {
		struct qb_vmm_fd fd;
		struct qb_vmm_start_req start;
		struct qb_vmm_shutdown_req shutdown;
		struct qb_vmm_mem_add_req mem_add;
		struct qb_vmm_disk_add_req disk_add;
		struct qb_vmm_disk_del_req disk_del;
	} u;
};

/* The permit table: what a request type may do in a phase. */
enum vmmon_verdict vmmon_permit(enum vmmon_phase phase, uint32_t type);

/*
 * The validate step. VMMON_ACT fills out; VMMON_REFUSE and VMMON_VIOLATION
 * say why in err. Never touches m->fd (the caller owns it either way).
 */
enum vmmon_verdict vmmon_validate(const struct vmmon_view *v,
    const struct vmmon_msg *m, struct vmmon_request *out, struct qb_error *err);

#endif
