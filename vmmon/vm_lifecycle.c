/*
 * qemubox-vmmon: one VM's life. The fds staged for it, its start (argv
 * from qemu_argv.c, exec through the launcher), the QMP events it sends,
 * status/pause/resume, the bounded shutdown steps (ACPI powerdown, QMP
 * quit, SIGKILL), its exit event and the KVM probe that picks the accel.
 */
#include <sys/syscall.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/log.h"
#include "vmmon/qemu_argv.h"
#include "vmmon/qemu_launcher.h"
#include "vmmon/vmmon.h"

/* ---- staged fds ---- */

/* Where the staged fd of a role (and disk index) is kept. */
int *
staged_slot(uint32_t role, uint32_t index)
{
	switch (role) {
	case QB_VMM_FD_KERNEL:
		return &vmmon.st.kernel;
	case QB_VMM_FD_INITRD:
		return &vmmon.st.initrd;
	case QB_VMM_FD_CHANNEL:
		return &vmmon.st.channel;
	case QB_VMM_FD_CONSOLE_LOG:
		return &vmmon.st.log;
	case QB_VMM_FD_TAP:
		return &vmmon.st.tap;
	case QB_VMM_FD_VHOST_VSOCK:
		return &vmmon.st.vhost;
	case QB_VMM_FD_VHOST_USER_FS:
		return &vmmon.st.fs;
	case QB_VMM_FD_RAM:
		return &vmmon.st.ram;
	case QB_VMM_FD_STATE:
		return &vmmon.st.state;
	case QB_VMM_FD_DISK:
		return index < QB_VMM_MAX_DISKS ? &vmmon.st.disks[index] : NULL;
	}
	return NULL;
}

void
staged_reset(void)
{
	uint32_t role, i;
	int *slot;

	for (role = QB_VMM_FD_KERNEL; role <= QB_VMM_FD_STATE; role++)
		for (i = 0; i < (role == QB_VMM_FD_DISK ? QB_VMM_MAX_DISKS : 1);
		     i++) {
			slot = staged_slot(role, i);
			if (*slot != -1)
				close(*slot);
			*slot = -1;
		}
}

/* The validate step checked role, index and that the slot is free. */
void
stage_fd(const struct qb_vmm_fd *f, int fd)
{
	*staged_slot(f->role, f->index) = fd;
}

void
vm_kill(const char *why)
{
	if (vmmon.vm.pid > 0 &&
	    (vmmon.vm.state == VM_STARTING || vmmon.vm.state == VM_RUNNING)) {
		if (!vmmon.vm.killed)
			vmmon.vm.kill_why = why;
		vmmon.vm.killed = true;
		kill(vmmon.vm.pid, SIGKILL);
	}
}

/* ---- status / pause / resume ---- */

static void
status_done(void *arg, const struct qmp_result *res)
{
	struct req *r = arg;
	struct qb_vmm_status_res out;
	json_object *v;

	if (qmp_failed(r, res, "query-status"))
		return;
	memset(&out, 0, sizeof(out));
	if (!json_object_is_type(res->ret, json_type_object) ||
	    !json_object_object_get_ex(res->ret, "status", &v) ||
	    !json_object_is_type(v, json_type_string)) {
		req_fail(r, QB_E_INTERNAL, "query-status: malformed reply");
		return;
	}
	snprintf(
	    out.status, sizeof(out.status), "%s", json_object_get_string(v));
	if (json_object_object_get_ex(res->ret, "running", &v) &&
	    json_object_is_type(v, json_type_boolean))
		out.running = json_object_get_boolean(v);
	send_msg(IMSG_VMM_STATUS_RES, r->peerid, &out, sizeof(out));
	free(r);
}

static void
simple_done(void *arg, const struct qmp_result *res)
{
	struct req *r = arg;

	if (qmp_failed(r, res, r->type == IMSG_VMM_PAUSE_REQ ? "stop" : "cont"))
		return;
	send_msg(r->type == IMSG_VMM_PAUSE_REQ ? IMSG_VMM_PAUSE_RES
	                                       : IMSG_VMM_RESUME_RES,
	    r->peerid, NULL, 0);
	free(r);
}

void
vm_status(struct req *r)
{
	req_qmp(r, "query-status", NULL, status_done);
}

void
vm_pause_resume(struct req *r)
{
	req_qmp(r, r->type == IMSG_VMM_PAUSE_REQ ? "stop" : "cont", NULL,
	    simple_done);
}

/* ---- QMP events ---- */

static const char *
data_str(json_object *data, const char *key)
{
	json_object *v;

	if (data != NULL && json_object_object_get_ex(data, key, &v) &&
	    json_object_is_type(v, json_type_string))
		return json_object_get_string(v);
	return "";
}

/*
 * The id of a device event: "device", or for events that carry only a QOM
 * path (a CPU's, or its lapic child's), the <id> of
 * /machine/peripheral/<id>[/child]: the device or a part of it is gone.
 */
static const char *
event_device(json_object *data, char *buf, size_t len)
{
	const char *dev = data_str(data, "device"), *path;
	size_t n;

	if (dev[0] != '\0')
		return dev;
	path = data_str(data, "path");
	if (strncmp(path, "/machine/peripheral/", 20) != 0)
		return "";
	path += 20;
	n = strcspn(path, "/");
	if (n >= len)
		return "";
	memcpy(buf, path, n);
	buf[n] = '\0';
	return buf;
}

static void
on_qmp_event(void *arg, const char *name, json_object *data)
{
	json_object *v;

	(void)arg;
	log_debug("%s: %s", __func__, name);
	if (strcmp(name, "SHUTDOWN") == 0) {
		vmmon.vm.got_shutdown = true;
		snprintf(vmmon.vm.shutdown_reason,
		    sizeof(vmmon.vm.shutdown_reason), "%s",
		    data_str(data, "reason"));
		if (data != NULL &&
		    json_object_object_get_ex(data, "guest", &v))
			vmmon.vm.shutdown_guest = json_object_get_boolean(v);
	} else if (strcmp(name, "POWERDOWN") == 0)
		send_guest_evt(QB_VMM_GUEST_EVT_POWERDOWN, "");
	else if (strcmp(name, "RESET") == 0)
		send_guest_evt(
		    QB_VMM_GUEST_EVT_RESET, data_str(data, "reason"));
	else if (strcmp(name, "GUEST_PANICKED") == 0)
		send_guest_evt(QB_VMM_GUEST_EVT_PANICKED, "");
	else if (strcmp(name, "MIGRATION") == 0) {
		vm_save_event(data);
		vm_restore_event(data);
	} else if (strcmp(name, "STOP") == 0)
		send_guest_evt(QB_VMM_GUEST_EVT_STOP, "");
	else if (strcmp(name, "RESUME") == 0)
		send_guest_evt(QB_VMM_GUEST_EVT_RESUME, "");
	else if (strcmp(name, "DEVICE_DELETED") == 0) {
		char idbuf[QB_VMM_DEVID_MAX];
		const char *dev = event_device(data, idbuf, sizeof(idbuf));

		send_guest_evt(QB_VMM_GUEST_EVT_DEVICE_DELETED, dev);
		if (vmmon.vm.unplug.r != NULL &&
		    strcmp(dev, vmmon.vm.unplug.r->dev) == 0)
			unplug_done(true, NULL);
	} else if (strcmp(name, "DEVICE_UNPLUG_GUEST_ERROR") == 0) {
		char idbuf[QB_VMM_DEVID_MAX];
		const char *dev = event_device(data, idbuf, sizeof(idbuf));

		send_guest_evt(QB_VMM_GUEST_EVT_UNPLUG_ERROR, dev);
		if (vmmon.vm.unplug.r != NULL &&
		    strcmp(dev, vmmon.vm.unplug.r->dev) == 0)
			unplug_done(false, "the guest refused");
	}
}

/* The VM is up (a clone: restored and running): answer START. */
void
vm_start_answer(void)
{
	vmmon.vm.state = VM_RUNNING;
	log_info("%s: QEMU pid %d up", __func__, (int)vmmon.vm.pid);
	send_msg(IMSG_VMM_START_RES, vmmon.vm.start_peerid, &vmmon.vm.start_res,
	    sizeof(vmmon.vm.start_res));
}

static void
on_qmp_ready(void *arg)
{
	(void)arg;
	if (vmmon.vm.state != VM_STARTING)
		return;
	vmmon.vm.qmp_ready = true;
	/* A clone answers once restored (vm_restore.c). */
	if (vmmon.vm.restoring)
		vm_restore_begin(vmmon.vm.state_fd);
	else
		vm_start_answer();
}

/* ---- VM start ---- */

static int
accel_resolve(uint32_t want, enum qb_vmm_accel *out, struct qb_error *err)
{
	switch (want) {
	case QB_VMM_ACCEL_AUTO:
		*out = vmmon.kvm_ok == 1 ? QB_VMM_ACCEL_KVM : QB_VMM_ACCEL_TCG;
		return 0;
	case QB_VMM_ACCEL_KVM:
		if (vmmon.kvm_ok != 1)
			return qb_seterr(err, QB_E_PRECONDITION,
			    "accel kvm: /dev/kvm is not usable here");
		*out = QB_VMM_ACCEL_KVM;
		return 0;
	case QB_VMM_ACCEL_TCG:
		*out = QB_VMM_ACCEL_TCG;
		return 0;
	}
	return qb_seterr(err, QB_E_INVALID, "unknown accel %u", want);
}

/* The staged disk fds, numbered from *next as QEMU will see them. */
static void
disk_fds(const struct qb_vmm_start_req *q, struct qemu_vm_config *c, int *fds,
    int *nfds, int *next)
{
	unsigned i;

	c->ndisks = q->ndisks;
	for (i = 0; i < q->ndisks; i++) {
		c->disks[i].fd = (*next)++;
		c->disks[i].readonly = q->disks[i].readonly != 0;
		memcpy(c->disks[i].serial, q->disks[i].serial,
		    sizeof(c->disks[i].serial));
		fds[(*nfds)++] = vmmon.st.disks[i];
	}
}

static int
vm_start(
    const struct qb_vmm_start_req *q, uint32_t peerid, struct qb_error *err)
{
	static const struct qmp_callbacks qcb = {
	    on_qmp_ready, on_qmp_event, NULL};
	struct qemu_vm_config c;
	struct qemu_argv a = {0};
	int fds[LAUNCHER_MAX_FDS], nfds = 0, next = 5, i;
	enum qb_vmm_accel accel = QB_VMM_ACCEL_TCG;
	char id[QB_ID_MAX];
	char cmdline[QB_VMM_CMDLINE_MAX];

	if (vmmon.launcher_pid <= 0)
		return qb_seterr(
		    err, QB_E_PRECONDITION, "this vmmon already ran its VM");
	/* The request passed vmmon_validate: strings terminated, enums
	 * known, the staged fds exactly those it needs. */
	memcpy(id, q->id, sizeof(id));
	memcpy(cmdline, q->cmdline, sizeof(cmdline));
	if (accel_resolve(q->accel, &accel, err) == -1)
		return -1;
	if (q->ram_mode == QB_VMM_RAM_CLONE &&
	    vm_restore_check(vmmon.st.ram, vmmon.st.state, err) == -1)
		return -1;

	memset(&c, 0, sizeof(c));
	c.qemu_path = vmmon.jailed.qemu_path;
	c.data_dir = vmmon.share_path; /* bound at the same path in the jail */
	c.name = id;
	c.machine = qemu_machine_resolve(
	    q->machine, q->boot_cpus, q->max_cpus, q->memory_slots);
	c.accel = accel;
	c.transport = q->transport;
	c.boot_cpus = q->boot_cpus;
	c.max_cpus = q->max_cpus;
	c.memory_mb = q->memory_mb;
	c.max_memory_mb = q->max_memory_mb;
	c.memory_slots = q->memory_slots;
	c.tsc_khz = vmmon.jailed.tsc_khz;
	c.hotplug_disks = q->hotplug_disks != 0;
	/*
	 * A clone translates its restore and the container's start, not a
	 * boot: its own, smaller, code cache (the cache is no migrated state,
	 * so it may differ from the template's).
	 */
	c.tcg_tb_mb = q->ram_mode == QB_VMM_RAM_CLONE
	                  ? vmmon.clone_tcg_tb_size_mb
	                  : vmmon.tcg_tb_size_mb;
	c.page_reporting_order = vmmon.page_reporting_order;
	c.cmdline_extra = cmdline;
	c.guest_cid = q->guest_cid;
	c.qmp_fd = 3;
	c.console_fd = 4;
	c.channel_fd = c.vhost_vsock_fd = c.tap_fd = c.fs_fd = c.ram_fd = -1;
	c.ram_mode = q->ram_mode;

	/* Required fds, then optional ones, numbered as QEMU will see them. */
	c.kernel_fd = next++;
	fds[nfds++] = vmmon.st.kernel;
	c.initrd_fd = next++;
	fds[nfds++] = vmmon.st.initrd;
	if (q->transport == QB_VMM_TRANSPORT_VIRTIO_SERIAL) {
		c.channel_fd = next++;
		fds[nfds++] = vmmon.st.channel;
	} else {
		c.vhost_vsock_fd = next++;
		fds[nfds++] = vmmon.st.vhost;
	}
	if (q->has_tap) {
		c.tap_fd = next++;
		fds[nfds++] = vmmon.st.tap;
		memcpy(c.mac, q->mac, sizeof(c.mac));
	}
	if (q->has_fs) {
		c.fs_fd = next++;
		fds[nfds++] = vmmon.st.fs;
	}
	/*
	 * The RAM fd after every other fd but a clone's disks, so that a
	 * template and its clones number them alike. The state fd is not
	 * QEMU's yet: it goes over QMP (getfd) when saving or restoring.
	 */
	if (q->ram_mode != QB_VMM_RAM_CLONE)
		disk_fds(q, &c, fds, &nfds, &next);
	if (q->ram_mode != QB_VMM_RAM_ANON) {
		c.ram_fd = next++;
		fds[nfds++] = vmmon.st.ram;
	}
	if (q->ram_mode == QB_VMM_RAM_CLONE)
		disk_fds(q, &c, fds, &nfds, &next);
	if (qemu_argv_build(&c, &a, err) == -1)
		return -1;
	if (log_get_debug()) {
		for (i = 0; i < (int)a.argc; i++)
			log_debug("%s: argv[%d] %s", __func__, i, a.argv[i]);
	}
	if (launcher_exec(vmmon.launcher_sock, a.argv, fds, nfds) == -1) {
		qemu_argv_free(&a);
		return qb_seterr(
		    err, QB_E_INTERNAL, "launch QEMU: %s", strerror(errno));
	}
	qemu_argv_free(&a);
	close(vmmon.launcher_sock);
	vmmon.launcher_sock = -1;

	memset(&vmmon.vm, 0, sizeof(vmmon.vm));
	vmmon.vm.state = VM_STARTING;
	vmmon.vm.pid = vmmon.launcher_pid;
	vmmon.launcher_pid = -1;
	vmmon.vm.pidfd = (int)syscall(SYS_pidfd_open, vmmon.vm.pid, 0);
	vmmon.vm.con_fd = vmmon.con_fd;
	vmmon.con_fd = -1;
	vmmon.vm.log_fd = vmmon.st.log;
	vmmon.st.log = -1;
	vmmon.vm.log_max =
	    q->console_max_bytes ? q->console_max_bytes : CONSOLE_DEFAULT_MAX;
	vmmon.vm.start_peerid = peerid;
	vmmon.vm.start_res.pid = vmmon.vm.pid;
	vmmon.vm.start_res.machine = c.machine;
	vmmon.vm.scsi = c.hotplug_disks;
	vmmon.vm.start_res.accel = c.accel;
	vmmon.vm.max_cpus = c.max_cpus;
	vmmon.vm.shared_mem = c.fs_fd != -1;
	vmmon.vm.ram_mode = c.ram_mode;
	/* Kept: SAVE reads the RAM's size and writes the state. */
	vmmon.vm.ram_fd = vmmon.st.ram;
	vmmon.vm.state_fd = vmmon.st.state;
	vmmon.st.ram = vmmon.st.state = -1;
	vmmon.vm.ready_deadline =
	    qmp_now_ms() + (c.ram_mode == QB_VMM_RAM_CLONE
	                           ? RESTORE_TIMEOUT_MS
	                           : QMP_READY_TIMEOUT_MS);
	/* Kept for the VM's life: QEMU 7.2 frees unused fd sets when the
	 * last QMP connection closes (WIRE 6.6). */
	if ((vmmon.vm.qmp = qmp_new(vmmon.qmp_fd, &qcb)) == NULL)
		fatal("%s: qmp_new", __func__);
	vmmon.qmp_fd = -1;
	/* Restored once QMP's handshake is done (vm_restore.c). */
	vmmon.vm.restoring = c.ram_mode == QB_VMM_RAM_CLONE;
	if (vmmon.vm.restoring) {
		vmmon.vm.clone_ndisks = q->ndisks;
		memcpy(vmmon.vm.clone_disks, q->disks,
		    sizeof(vmmon.vm.clone_disks));
	}
	staged_reset(); /* QEMU holds its own copies now */
	return 0;
}

/* Start the VM, or answer START with why not (staged fds dropped). */
void
vm_start_or_answer(const struct qb_vmm_start_req *q, uint32_t peerid)
{
	struct qb_error err = {0};

	if (vm_start(q, peerid, &err) == -1) {
		staged_reset();
		send_error(peerid, IMSG_VMM_START_REQ, 0, err.code, "start: %s",
		    err.msg);
	}
}

/* ---- shutdown ---- */

static void
sd_ack(void *arg, const struct qmp_result *res)
{
	(void)arg;
	(void)res; /* the deadline drives the next step either way */
}

/* Shutdown step `step` sends cmd; false if QMP cannot take it (next). */
static bool
sd_step_qmp(int step, const char *cmd, uint64_t now)
{
	vmmon.vm.sd_step = step;
	if (vmmon.vm.qmp == NULL || !vmmon.vm.qmp_ready ||
	    vm_qmp(cmd, NULL, sd_ack, NULL) == -1)
		return false;
	vmmon.vm.sd_deadline = now + vmmon.vm.sd_timeout;
	return true;
}

void
sd_advance(void)
{
	uint64_t now = qmp_now_ms();

	switch (vmmon.vm.sd_step) {
	case 0:
		if (sd_step_qmp(1, "system_powerdown", now))
			break;
		/* FALLTHROUGH */
	case 1:
		if (sd_step_qmp(2, "quit", now))
			break;
		/* FALLTHROUGH */
	case 2:
		vmmon.vm.sd_step = 3;
		log_warnx("%s: QEMU %d did not stop, SIGKILL", __func__,
		    (int)vmmon.vm.pid);
		vm_kill("the shutdown steps timed out");
		vmmon.vm.sd_deadline = 0;
		break;
	}
}

/* ---- QEMU's exit ---- */

void
vm_exited(int status)
{
	struct qb_vmm_exit_evt ev;

	memset(&ev, 0, sizeof(ev));
	ev.pid = vmmon.vm.pid;
	if (WIFEXITED(status)) {
		ev.exit_status = WEXITSTATUS(status);
	} else {
		ev.exit_status = -1;
		ev.signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
	}
	if (vmmon.vm.state == VM_STARTING)
		ev.reason = QB_VMM_EXIT_START_FAILED;
	else if (vmmon.vm.killed)
		ev.reason = QB_VMM_EXIT_KILLED;
	else if (!vmmon.vm.got_shutdown)
		ev.reason = QB_VMM_EXIT_CRASHED;
	else if (strcmp(vmmon.vm.shutdown_reason, "guest-shutdown") == 0)
		ev.reason = QB_VMM_EXIT_GUEST_SHUTDOWN;
	else if (strcmp(vmmon.vm.shutdown_reason, "guest-reset") == 0)
		ev.reason = QB_VMM_EXIT_GUEST_RESET;
	else if (strcmp(vmmon.vm.shutdown_reason, "guest-panic") == 0)
		ev.reason = QB_VMM_EXIT_GUEST_PANIC;
	else if (strncmp(vmmon.vm.shutdown_reason, "host-", 5) == 0)
		ev.reason = QB_VMM_EXIT_HOST_REQUEST;
	snprintf(ev.detail, sizeof(ev.detail), "%s",
	    vmmon.vm.killed && vmmon.vm.kill_why ? vmmon.vm.kill_why
	    : vmmon.vm.got_shutdown              ? vmmon.vm.shutdown_reason
	                                         : "no SHUTDOWN event");
	log_info("%s: QEMU %d exited status %d signal %d reason %u (%s)",
	    __func__, (int)vmmon.vm.pid, ev.exit_status, ev.signal, ev.reason,
	    ev.detail);

	if (vmmon.vm.state == VM_STARTING) {
		if (vmmon.vm.start_why[0] != '\0')
			snprintf(vmmon.err_tail, sizeof(vmmon.err_tail), "%s",
			    vmmon.vm.start_why);
		if (vmmon.err_tail[0] != '\0' &&
		    (!vmmon.vm.killed || vmmon.vm.start_why[0] != '\0'))
			snprintf(ev.detail, sizeof(ev.detail), "%.127s",
			    vmmon.err_tail);
		send_error(vmmon.vm.start_peerid, IMSG_VMM_START_REQ, 0,
		    QB_E_INTERNAL,
		    "QEMU exited during start (status %d signal %d)%s%s",
		    ev.exit_status, ev.signal, vmmon.err_tail[0] ? ": " : "",
		    vmmon.err_tail);
	}
	vmmon.vm.state = VM_EXITED;
	if (vmmon.vm.unplug.r != NULL) {
		struct req *r = vmmon.vm.unplug.r;

		vmmon.vm.unplug.r = NULL;
		req_fail(r, QB_E_UNAVAILABLE, "the VM is gone");
	}
	/* Before QMP goes: a save's quit may still be unanswered. */
	vm_save_exited();
	/* Pending QMP commands fail with "closed" and answer their requests. */
	qmp_free(vmmon.vm.qmp);
	vmmon.vm.qmp = NULL;
	send_msg(IMSG_VMM_EXIT_EVT, 0, &ev, sizeof(ev));
	if (vmmon.vm.sd_reply) {
		send_msg(IMSG_VMM_SHUTDOWN_RES, vmmon.vm.sd_peerid, NULL, 0);
		vmmon.vm.sd_reply = false;
	}
	if (vmmon.vm.pidfd != -1)
		close(vmmon.vm.pidfd);
	vmmon.vm.pidfd = -1;
	if (vmmon.vm.con_fd != -1)
		close(vmmon.vm.con_fd);
	vmmon.vm.con_fd = -1;
	if (vmmon.vm.log_fd != -1)
		close(vmmon.vm.log_fd);
	vmmon.vm.log_fd = -1;
	if (vmmon.vm.ram_fd != -1)
		close(vmmon.vm.ram_fd);
	if (vmmon.vm.state_fd != -1)
		close(vmmon.vm.state_fd);
	vmmon.vm.ram_fd = vmmon.vm.state_fd = -1;
}

/* ---- KVM probe ---- */

void
probe_finish(int result)
{
	int status;

	if (vmmon.probe_pid > 0) {
		kill(vmmon.probe_pid, SIGKILL);
		waitpid(vmmon.probe_pid, &status, 0);
		vmmon.probe_pid = -1;
	}
	if (vmmon.probe_fd != -1)
		close(vmmon.probe_fd);
	vmmon.probe_fd = -1;
	vmmon.kvm_ok = result;
	log_info("%s: KVM %s", __func__, result ? "usable" : "not usable, TCG");
	if (vmmon.start_deferred) {
		vmmon.start_deferred = false;
		vm_start_or_answer(&vmmon.start_req, vmmon.start_peerid);
	}
}

void
probe_start(void)
{
	int p[2];

	vmmon.probe_pid = -1;
	vmmon.probe_fd = -1;
	vmmon.kvm_ok = 0;
	if (!vmmon.jailed.have_kvm_node)
		return;
	if (pipe2(p, O_CLOEXEC) == -1)
		return;
	switch ((vmmon.probe_pid = fork())) {
	case -1:
		close(p[0]);
		close(p[1]);
		return;
	case 0:
		close(p[0]);
		vmmon_kvm_probe_child(p[1]);
	}
	close(p[1]);
	vmmon.probe_fd = p[0];
	vmmon.probe_deadline = qmp_now_ms() + KVM_PROBE_TIMEOUT_MS;
	vmmon.kvm_ok = -1;
}
