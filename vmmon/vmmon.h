/*
 * qemubox-vmmon's state, shared by its files: vmmon.c (loop, dispatch,
 * replies), vm_lifecycle.c (start, QMP events, shutdown, exit, KVM probe),
 * hotplug.c (vCPU and DIMM add/remove over QMP), disk_hotplug.c (a pod's
 * later disks as SCSI LUNs), console.c (QEMU's serial
 * console and stderr relay). One VM per process, so one global.
 */
#ifndef QEMUBOX_VMMON_H
#define QEMUBOX_VMMON_H

#include <sys/types.h>

#include <stdbool.h>
#include <stdint.h>

#include <json-c/json.h>

#include "imsg/imsg.h"
#include "imsg/qemubox_imsg.h"
#include "lib/error.h"
#include "seccomp/seccomp.h"
#include "vmmon/qmp.h"
#include "vmmon/vmmon_priv.h"
#include "vmmon/vmmon_validate.h"

#define CONSOLE_DEFAULT_MAX (16ull * 1024 * 1024)
/*
 * The console is read at most this often: the guest's serial port hands
 * QEMU a line or less at a time, and one poll+read+write per line was
 * vmmon's largest CPU cost during a boot (syscalls are dear on a host that
 * is itself a VM). The socket buffer holds what arrives in between.
 */
#define CONSOLE_BATCH_MS     100
#define QMP_CMD_TIMEOUT_MS   10000
#define QMP_READY_TIMEOUT_MS 30000
#define KVM_PROBE_TIMEOUT_MS 1500
#define UNPLUG_TIMEOUT_MS    60000
#define MAX_HOTPLUG          64
#define SAVE_TIMEOUT_MS      60000
/* A clone: QEMU exec -> restored and running (vm_restore.c). */
#define RESTORE_TIMEOUT_MS 60000

enum { SAVE_MIG_NONE, SAVE_MIG_COMPLETED, SAVE_MIG_FAILED };

enum vm_state { VM_NONE, VM_STARTING, VM_RUNNING, VM_EXITED };

/* An imsg request waiting on QMP. */
struct req {
	uint32_t peerid;
	uint32_t type;
	int step;
	uint64_t size;
	uint32_t lun; /* DISK_ADD/DISK_DEL */
	char dev[QB_VMM_DEVID_MAX];
	char mem[QB_VMM_DEVID_MAX];
};

/* A device_del waiting for DEVICE_DELETED. */
struct unplug {
	struct req *r;
	uint64_t deadline;
};

struct vm {
	enum vm_state state;
	pid_t pid;
	int pidfd;
	struct qmp *qmp;
	int con_fd;               /* our end of QEMU's serial console */
	int log_fd;               /* console.log from the shim, -1 = discard */
	uint64_t con_quiet_until; /* con_fd not polled before (ms) */
	uint64_t log_written, log_max;
	bool log_truncated;
	uint32_t start_peerid;
	struct qb_vmm_start_res start_res;
	uint64_t ready_deadline;
	bool qmp_ready;
	/* shutdown: 0 none, 1 powerdown sent, 2 quit sent, 3 killed */
	int sd_step;
	uint64_t sd_deadline, sd_timeout;
	bool sd_reply;
	uint32_t sd_peerid;
	bool killed;
	const char *kill_why; /* for the exit event's detail */
	bool got_shutdown;
	char shutdown_reason[64];
	bool shutdown_guest;
	/* hotplug bookkeeping (q35 only) */
	char cpus[MAX_HOTPLUG][QB_VMM_DEVID_MAX];
	int ncpus;
	char dimms[MAX_HOTPLUG][QB_VMM_DEVID_MAX];
	char mems[MAX_HOTPLUG][QB_VMM_DEVID_MAX];
	int ndimms;
	unsigned seq;
	bool shared_mem; /* guest RAM is a shared memfd (virtio-fs): so
	                    must hot-added DIMMs be */
	struct unplug unplug;
	unsigned max_cpus;
	/* hot-added disks (disk_hotplug.c): LUNs on scsi0 */
	bool scsi;                          /* START had hotplug_disks */
	uint8_t lun_state[QB_VMM_MAX_LUNS]; /* LUN_FREE, LUN_BUSY, LUN_USED */
	/* cloning (vm_save.c): ram_mode, the RAM memfd and the state fd */
	enum qb_vmm_ram_mode ram_mode;
	int ram_fd, state_fd;
	struct req *save; /* the SAVE in progress, NULL if none */
	bool save_done;   /* migration completed: quit, then answer */
	int save_mig;     /* SAVE_MIG_*: how the MIGRATION event ended */
	uint64_t save_deadline;
	/* a clone restoring (vm_restore.c): START is answered after cont */
	bool restoring;
	/* its disks, LUN i = disk i, attached before cont (fds: -add-fd) */
	unsigned clone_ndisks;
	struct qb_vmm_disk clone_disks[QB_VMM_MAX_DISKS];
	char start_why[256]; /* why vmmon failed START, quoted by vm_exited */
};

struct staged {
	int kernel, initrd, channel, log, tap, vhost, fs, ram, state;
	int disks[QB_VMM_MAX_DISKS];
};

struct vmmon {
	struct imsgbuf ibuf;
	const char *user, *qemu_path, *share_path;
	enum qb_seccomp_mode seccomp_mode;
	uint64_t shutdown_timeout_ms;
	unsigned tcg_tb_size_mb;       /* runtime.tcg_tb_size_mb */
	unsigned clone_tcg_tb_size_mb; /* runtime.clone_tcg_tb_size_mb */
	unsigned page_reporting_order; /* runtime.page_reporting_order */
	struct vmmon_jailed jailed;
	pid_t launcher_pid;
	int launcher_sock;
	int qmp_fd, con_fd; /* our ends, made before the launcher */
	int err_fd;         /* QEMU's stderr, read end */
	char err_tail[256]; /* its last line, quoted when QEMU fails */
	pid_t probe_pid;
	int probe_fd;
	uint64_t probe_deadline;
	int kvm_ok; /* -1 unknown */
	struct staged st;
	/* START waiting for the KVM probe */
	bool start_deferred;
	uint32_t start_peerid;
	struct qb_vmm_start_req start_req;
	struct vm vm;
};

extern struct vmmon vmmon;

/* vmmon.c: replies to the shim, requests waiting on QMP. */
void send_msg(uint32_t type, uint32_t peerid, const void *data, size_t len);
void send_error(uint32_t peerid, uint32_t req_type, int errnum, int code,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));
void send_guest_evt(uint32_t kind, const char *detail);
struct req *req_new(uint32_t peerid, uint32_t type);
void req_fail(struct req *r, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
bool qmp_failed(struct req *r, const struct qmp_result *res, const char *what);
int vm_qmp(const char *cmd, json_object *args, qmp_result_cb cb, void *arg);
void req_qmp(
    struct req *r, const char *cmd, json_object *args, qmp_result_cb cb);

/* vm_lifecycle.c */
int *staged_slot(uint32_t role, uint32_t index);
void staged_reset(void);
void stage_fd(const struct qb_vmm_fd *f, int fd);
void vm_kill(const char *why);
void vm_start_or_answer(const struct qb_vmm_start_req *q, uint32_t peerid);
void vm_status(struct req *r);
void vm_pause_resume(struct req *r);
void sd_advance(void);
void vm_exited(int status);
void probe_start(void);
void probe_finish(int result);

/* vm_lifecycle.c: START_RES, the VM running */
void vm_start_answer(void);

/* vm_restore.c (clone mode) */
int vm_restore_check(int ram_fd, int state_fd, struct qb_error *err);
void vm_restore_begin(int state_fd);
void vm_restore_event(json_object *data);

/* vm_save.c (template mode) */
json_object *vm_migrate_caps(void);
json_object *vm_qmp_arg(const char *key, const char *value);
void vm_save(struct req *r);
void vm_save_event(json_object *data);
void vm_save_expired(void);
void vm_save_exited(void);

/* hotplug.c */
void hotplug_cpu(struct req *r);
void hotplug_mem(struct req *r);
void unplug_done(bool ok, const char *why);
void unplug_wait(struct req *r);

/* disk_hotplug.c */
void disk_add(struct req *r, const struct qb_vmm_disk_add_req *q, int fd);
/* QMP arguments for LUN lun (its fd set QEMU_LUN_FDSET_BASE + lun). */
json_object *disk_lun_blockdev_args(uint32_t lun, bool readonly);
json_object *disk_lun_device_args(
    uint32_t lun, const char *serial, bool readonly);
void disk_del(struct req *r);
void disk_unplugged(struct req *r, bool ok, const char *why);

/* console.c */
void console_read(void);
ssize_t qemu_stderr_read(void);

#endif
