/*
 * qemubox-vmmon: the unprivileged VM monitor.
 *
 * Started by the shim daemon (lib/proc_spawn) with its imsg socket on fd 3.
 * Before reading anything it jails itself (vmmon_priv.c), forks the QEMU
 * launcher (qemu_launcher.c) and loads its own seccomp filter. Then one
 * poll loop serves the shim (vmmon_dispatch_shim), QMP, the console relay
 * and QEMU's exit. One VM per vmmon. When the shim's end closes, QEMU is
 * killed and reaped before vmmon exits: no QEMU outlives its sandbox.
 * The VM's life is in vm_lifecycle.c, hotplug in hotplug.c, the console
 * and stderr relay in console.c.
 *
 *   qemubox-vmmon [-d] [-S] [-u user] [-q qemu] [-s qemu_share_dir]
 *                 [-t shutdown_timeout_ms]
 * Settings come from config.json ($QEMUBOX_CONFIG or the default path, read
 * before the jail; its built-in defaults when the file does not exist):
 * security.vmmon_user, security.seccomp, paths.qemu_path,
 * paths.qemu_share_path, runtime.shutdown_timeout, runtime.debug. Flags
 * override them; -S is seccomp log mode (diagnosing only).
 */
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/config.h"
#include "lib/log.h"
#include "lib/malloc_tune.h"
#include "lib/startprof.h"
#include "lib/proc_spawn.h"
#include "vmmon/qemu_launcher.h"
#include "vmmon/vmmon.h"
#include "vmmon/vmmon_validate.h"

struct vmmon vmmon;

/* ---- replies to the shim ---- */

void
send_msg(uint32_t type, uint32_t peerid, const void *data, size_t len)
{
	if (imsg_compose(&vmmon.ibuf, type, peerid, 0, -1, data, len) == -1)
		fatal("%s: imsg_compose", __func__);
}

void
send_error(uint32_t peerid, uint32_t req_type, int errnum, int code,
    const char *fmt, ...)
{
	char msg[QB_ERRMSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (qb_imsg_compose_error(
	        &vmmon.ibuf, peerid, req_type, errnum, code, msg) == -1)
		fatal("%s: imsg_compose", __func__);
}

void
send_guest_evt(uint32_t kind, const char *detail)
{
	struct qb_vmm_guest_evt ev;

	memset(&ev, 0, sizeof(ev));
	ev.kind = kind;
	snprintf(ev.detail, sizeof(ev.detail), "%s", detail ? detail : "");
	send_msg(IMSG_VMM_GUEST_EVT, 0, &ev, sizeof(ev));
}

/* ---- QMP plumbing ---- */

void
req_fail(struct req *r, int code, const char *fmt, ...)
{
	char msg[QB_ERRMSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	send_error(r->peerid, r->type, 0, code, "%s", msg);
	free(r);
}

/* Turns a failed QMP result into the request's error; true if failed. */
bool
qmp_failed(struct req *r, const struct qmp_result *res, const char *what)
{
	if (res->ok)
		return false;
	if (res->timed_out)
		req_fail(r, QB_E_DEADLINE, "%s: QEMU did not answer", what);
	else if (res->closed)
		req_fail(r, QB_E_UNAVAILABLE, "%s: the VM is gone", what);
	else
		req_fail(r, QB_E_UNKNOWN, "%s: %s: %s", what, res->err_class,
		    res->err_desc);
	return true;
}

int
vm_qmp(const char *cmd, json_object *args, qmp_result_cb cb, void *arg)
{
	return qmp_execute(
	    vmmon.vm.qmp, cmd, args, QMP_CMD_TIMEOUT_MS, cb, arg);
}

/* The next QMP command of request r; r fails if QMP cannot take it. */
void
req_qmp(struct req *r, const char *cmd, json_object *args, qmp_result_cb cb)
{
	if (vm_qmp(cmd, args, cb, r) == -1)
		req_fail(r, QB_E_INTERNAL, "qmp %s: %s", cmd, strerror(errno));
}

/* ---- the shim's requests ---- */

/* No QEMU outlives its monitor: kill and reap every child. */
static void
reap_children(void)
{
	int status;

	if (vmmon.vm.pid > 0 &&
	    (vmmon.vm.state == VM_STARTING || vmmon.vm.state == VM_RUNNING)) {
		kill(vmmon.vm.pid, SIGKILL);
		waitpid(vmmon.vm.pid, &status, 0);
	}
	if (vmmon.launcher_pid > 0) {
		kill(vmmon.launcher_pid, SIGKILL);
		waitpid(vmmon.launcher_pid, &status, 0);
	}
	if (vmmon.probe_pid > 0) {
		kill(vmmon.probe_pid, SIGKILL);
		waitpid(vmmon.probe_pid, &status, 0);
	}
}

static void
teardown_and_exit(int code)
{
	reap_children();
	exit(code);
}

struct req *
req_new(uint32_t peerid, uint32_t type)
{
	struct req *r;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		fatal("%s", __func__);
	r->peerid = peerid;
	r->type = type;
	return r;
}

/* vmmon's state as the validate step sees it. */
static void
view_fill(struct vmmon_view *v)
{
	uint32_t role, i;

	memset(v, 0, sizeof(*v));
	switch (vmmon.vm.state) {
	case VM_NONE:
		v->phase =
		    vmmon.start_deferred ? VMMON_STARTING : VMMON_STAGING;
		break;
	case VM_STARTING:
	case VM_RUNNING:
		if (vmmon.vm.sd_step != 0 || vmmon.vm.save != NULL)
			v->phase = VMMON_STOPPING;
		else
			v->phase = vmmon.vm.state == VM_STARTING
			               ? VMMON_STARTING
			               : VMMON_RUNNING;
		break;
	case VM_EXITED:
		v->phase = VMMON_EXITED;
		break;
	}
	for (role = QB_VMM_FD_KERNEL; role <= QB_VMM_FD_STATE; role++)
		if (role != QB_VMM_FD_DISK && *staged_slot(role, 0) != -1)
			v->staged_roles |= 1u << role;
	for (i = 0; i < QB_VMM_MAX_DISKS; i++)
		if (*staged_slot(QB_VMM_FD_DISK, i) != -1)
			v->staged_disks |= 1u << i;
	v->machine = vmmon.vm.start_res.machine;
	v->accel = vmmon.vm.start_res.accel;
	v->scsi = vmmon.vm.scsi;
	v->ram_mode = vmmon.vm.ram_mode;
	memcpy(v->lun_state, vmmon.vm.lun_state, sizeof(v->lun_state));
}

/* The action for a request the validate step passed. */
static void
act(const struct vmmon_request *q, uint32_t peerid, int fd)
{
	struct req *r;

	switch (q->type) {
	case IMSG_VMM_FD_REQ:
		stage_fd(&q->u.fd, fd);
		return;
	case IMSG_VMM_START_REQ:
		vmmon.start_req = q->u.start;
		if (vmmon.kvm_ok == -1 &&
		    q->u.start.accel != QB_VMM_ACCEL_TCG) {
			/* Finish the probe first (bounded). */
			vmmon.start_deferred = true;
			vmmon.start_peerid = peerid;
			return;
		}
		vm_start_or_answer(&vmmon.start_req, peerid);
		return;
	case IMSG_VMM_SHUTDOWN_REQ:
		if (vmmon.vm.state != VM_STARTING &&
		    vmmon.vm.state != VM_RUNNING) {
			send_msg(IMSG_VMM_SHUTDOWN_RES, peerid, NULL, 0);
			return;
		}
		vmmon.vm.sd_reply = true;
		vmmon.vm.sd_peerid = peerid;
		vmmon.vm.sd_timeout = q->u.shutdown.timeout_ms
		                          ? q->u.shutdown.timeout_ms
		                          : vmmon.shutdown_timeout_ms;
		sd_advance();
		return;
	}
	r = req_new(peerid, q->type);
	switch (q->type) {
	case IMSG_VMM_STATUS_REQ:
		vm_status(r);
		break;
	case IMSG_VMM_PAUSE_REQ:
	case IMSG_VMM_RESUME_REQ:
		vm_pause_resume(r);
		break;
	case IMSG_VMM_CPU_ADD_REQ:
	case IMSG_VMM_CPU_DEL_REQ:
	case IMSG_VMM_CPU_QUERY_REQ:
		hotplug_cpu(r);
		break;
	case IMSG_VMM_MEM_ADD_REQ:
		r->size = q->u.mem_add.size_mb;
		hotplug_mem(r);
		break;
	case IMSG_VMM_DISK_ADD_REQ:
		disk_add(r, &q->u.disk_add, fd);
		close(fd); /* QMP sends its own duplicate */
		break;
	case IMSG_VMM_DISK_DEL_REQ:
		r->lun = q->u.disk_del.lun;
		disk_del(r);
		break;
	case IMSG_VMM_SAVE_REQ:
		vm_save(r);
		break;
	default:
		hotplug_mem(r);
		break;
	}
}

/* Validate the whole request (vmmon_validate.c), then act on it. */
static void
vmmon_dispatch_shim(struct imsg *imsg)
{
	struct vmmon_view v;
	struct vmmon_msg m;
	struct vmmon_request q;
	struct qb_error err;
	uint32_t peerid = imsg_get_id(imsg);

	m.type = imsg_get_type(imsg);
	m.len = imsg_get_len(imsg);
	m.data = m.len > 0 ? ibuf_data(imsg->buf) : NULL;
	m.fd = imsg_get_fd(imsg);
	m.fd_flags = m.fd != -1 ? fcntl(m.fd, F_GETFL) : -1;
	view_fill(&v);
	switch (vmmon_validate(&v, &m, &q, &err)) {
	case VMMON_VIOLATION:
		if (m.fd != -1)
			close(m.fd);
		qb_imsg_kill_peer(__func__, err.msg, m.type, reap_children);
	case VMMON_REFUSE:
		if (m.fd != -1)
			close(m.fd);
		send_error(peerid, m.type, 0, err.code, "%s", err.msg);
		return;
	case VMMON_ACT:
		act(&q, peerid, m.fd);
		return;
	}
}

/* ---- main loop ---- */

static int
min_timeout(int a, int b)
{
	if (a < 0)
		return b;
	if (b < 0)
		return a;
	return a < b ? a : b;
}

static int
ms_until(uint64_t deadline, uint64_t now)
{
	if (deadline == 0)
		return -1;
	return deadline <= now ? 0 : (int)(deadline - now);
}

static void
loop(void)
{
	enum { P_IMSG, P_QMP, P_CON, P_PID, P_PROBE, P_ERR, P_N };
	struct pollfd pfd[P_N];
	struct imsg imsg;
	uint64_t now;
	ssize_t n;
	int timeout, i, status;

	for (;;) {
		for (i = 0; i < P_N; i++) {
			pfd[i].fd = -1;
			pfd[i].events = POLLIN;
			pfd[i].revents = 0;
		}
		pfd[P_IMSG].fd = vmmon.ibuf.fd;
		if (msgbuf_queuelen(&vmmon.ibuf.w) > 0)
			pfd[P_IMSG].events |= POLLOUT;
		now = qmp_now_ms();
		timeout = -1;
		if (vmmon.vm.qmp != NULL) {
			pfd[P_QMP].fd = qmp_fd(vmmon.vm.qmp);
			pfd[P_QMP].events = qmp_poll_events(vmmon.vm.qmp);
			timeout = qmp_next_timeout(vmmon.vm.qmp, now);
		}
		if (vmmon.vm.state == VM_STARTING ||
		    vmmon.vm.state == VM_RUNNING) {
			if (now >= vmmon.vm.con_quiet_until)
				pfd[P_CON].fd = vmmon.vm.con_fd;
			else
				timeout = min_timeout(timeout,
				    ms_until(vmmon.vm.con_quiet_until, now));
			pfd[P_ERR].fd = vmmon.err_fd;
			pfd[P_PID].fd = vmmon.vm.pidfd;
			if (vmmon.vm.state == VM_STARTING)
				timeout = min_timeout(timeout,
				    ms_until(vmmon.vm.ready_deadline, now));
			timeout = min_timeout(
			    timeout, ms_until(vmmon.vm.sd_deadline, now));
			if (vmmon.vm.unplug.r != NULL)
				timeout = min_timeout(timeout,
				    ms_until(vmmon.vm.unplug.deadline, now));
			timeout = min_timeout(
			    timeout, ms_until(vmmon.vm.save_deadline, now));
			if (vmmon.vm.pidfd == -1)
				timeout = min_timeout(timeout, 200);
		}
		if (vmmon.probe_fd != -1) {
			pfd[P_PROBE].fd = vmmon.probe_fd;
			timeout = min_timeout(
			    timeout, ms_until(vmmon.probe_deadline, now));
		}

		if (poll(pfd, P_N, timeout) == -1) {
			if (errno == EINTR)
				continue;
			fatal("poll");
		}
		now = qmp_now_ms();

		if (pfd[P_IMSG].revents & POLLOUT) {
			if (msgbuf_write(&vmmon.ibuf.w) == -1 &&
			    errno != EAGAIN)
				teardown_and_exit(0);
		}
		if (pfd[P_IMSG].revents & (POLLIN | POLLHUP | POLLERR)) {
			n = imsg_read(&vmmon.ibuf);
			if ((n == -1 && errno != EAGAIN) || n == 0) {
				log_info("shim closed the channel: stopping");
				teardown_and_exit(0);
			}
			for (;;) {
				if ((n = imsg_get(&vmmon.ibuf, &imsg)) == -1)
					qb_imsg_kill_peer("vmmon",
					    "unreadable message", 0,
					    reap_children);
				if (n == 0)
					break;
				vmmon_dispatch_shim(&imsg);
				imsg_free(&imsg);
			}
		}
		if (vmmon.probe_fd != -1) {
			char c = '0';

			if (pfd[P_PROBE].revents & (POLLIN | POLLHUP)) {
				if (read(vmmon.probe_fd, &c, 1) != 1)
					c = '0';
				probe_finish(c == '1');
			} else if (now >= vmmon.probe_deadline)
				probe_finish(0);
		}
		if (vmmon.vm.qmp != NULL && pfd[P_QMP].revents) {
			if (qmp_dispatch(vmmon.vm.qmp, pfd[P_QMP].revents) ==
			    -1) {
				if (errno == EBADMSG)
					log_warnx("QMP protocol violation: "
					          "killing the VM");
				/* Without QMP the VM cannot be managed. */
				if (errno == EBADMSG)
					vm_kill("QMP protocol violation");
				else if (!vmmon.vm.got_shutdown &&
				         vmmon.vm.pid > 0)
					/* QMP gone without a SHUTDOWN: crashed
					 * or about to; never leave it
					 * unmanaged. */
					kill(vmmon.vm.pid, SIGKILL);
				qmp_free(vmmon.vm.qmp);
				vmmon.vm.qmp = NULL;
				vmmon.vm.qmp_ready = false;
			}
		}
		if (vmmon.vm.qmp != NULL)
			qmp_expire(vmmon.vm.qmp, now);
		if (vmmon.vm.state == VM_STARTING ||
		    vmmon.vm.state == VM_RUNNING) {
			if (vmmon.vm.con_fd != -1 &&
			    (pfd[P_CON].revents & (POLLIN | POLLHUP))) {
				console_read();
				vmmon.vm.con_quiet_until =
				    now + CONSOLE_BATCH_MS;
			}
			if (vmmon.err_fd != -1 &&
			    (pfd[P_ERR].revents & (POLLIN | POLLHUP)))
				qemu_stderr_read();
			if (vmmon.vm.state == VM_STARTING &&
			    now >= vmmon.vm.ready_deadline) {
				log_warnx("QMP not ready in time: killing");
				vm_kill("QMP not ready in time");
				vmmon.vm.ready_deadline = 0;
			}
			if (vmmon.vm.sd_deadline != 0 &&
			    now >= vmmon.vm.sd_deadline)
				sd_advance();
			if (vmmon.vm.unplug.r != NULL &&
			    now >= vmmon.vm.unplug.deadline)
				unplug_done(false, "timed out");
			if (vmmon.vm.save != NULL &&
			    now >= vmmon.vm.save_deadline)
				vm_save_expired();
			if (vmmon.vm.pidfd == -1 ||
			    (pfd[P_PID].revents & POLLIN)) {
				pid_t w =
				    waitpid(vmmon.vm.pid, &status, WNOHANG);

				if (w == vmmon.vm.pid) {
					while (
					    vmmon.err_fd != -1 &&
					    poll(&(struct pollfd){vmmon.err_fd,
					             POLLIN, 0},
					        1, 0) == 1 &&
					    qemu_stderr_read() > 0)
						;
					/* Drain the console's last words. */
					while (
					    vmmon.vm.con_fd != -1 &&
					    poll(
					        &(struct pollfd){
					            vmmon.vm.con_fd, POLLIN, 0},
					        1, 0) == 1)
						console_read();
					vm_exited(status);
				}
			}
		}
		if (msgbuf_queuelen(&vmmon.ibuf.w) > 0 &&
		    msgbuf_write(&vmmon.ibuf.w) == -1 && errno != EAGAIN &&
		    errno != EPIPE)
			teardown_and_exit(0);
	}
}

static void
usage(void)
{
	fprintf(stderr, "usage: qemubox-vmmon [-dS] [-u user | -U uid] "
	                "[-q qemu] "
	                "[-s qemu_share_dir] [-t shutdown_timeout_ms]\n");
	exit(2);
}

int
main(int argc, char *argv[])
{
	struct qb_config *cfg;
	struct vmmon_jail j;
	struct qb_error err = {0};
	int ch, debug = 0, keep[2], sp[2], errp[2];
	struct stat st;
	const char *cfg_path;
	uid_t uid = 0;

	if (argc == 2 &&
	    (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		printf(
		    "usage: qemubox-vmmon [-dS] [-u user] [-q qemu] "
		    "[-s qemu_share_dir] [-t shutdown_timeout_ms]\n"
		    "The VM monitor of containerd-shim-qemubox-v1, which "
		    "starts it: runs one\nQEMU as an unprivileged user in a "
		    "jail and answers the shim over imsg.\nNot run by hand.\n");
		return 0;
	}
	log_init("qemubox-vmmon", 0);
	startprof_mark("exec");
	qb_malloc_tune();
	/*
	 * The settings are read into a mapping of their own and unmapped:
	 * qb_config_defaults() touches all of its ~64 KiB, which as a static
	 * would stay resident for the VM's life. What vmmon keeps is copied.
	 */
	cfg = mmap(NULL, sizeof(*cfg), PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (cfg == MAP_FAILED)
		fatal("config");
	qb_config_defaults(cfg);
	cfg_path = qb_config_path();
	if (access(cfg_path, F_OK) == 0 &&
	    qb_config_load_in_place(cfg_path, cfg, &err) == -1)
		fatalx("%s", err.msg);
	if ((vmmon.user = strdup(cfg->security.vmmon_user)) == NULL ||
	    (vmmon.qemu_path = strdup(cfg->paths.qemu_path)) == NULL ||
	    (vmmon.share_path = strdup(cfg->paths.qemu_share_path)) == NULL)
		fatal("config");
	vmmon.shutdown_timeout_ms = cfg->runtime.shutdown_timeout_ms;
	vmmon.tcg_tb_size_mb = cfg->runtime.tcg_tb_size_mb;
	vmmon.clone_tcg_tb_size_mb = cfg->runtime.clone_tcg_tb_size_mb;
	vmmon.page_reporting_order = cfg->runtime.page_reporting_order;
	vmmon.seccomp_mode = cfg->security.seccomp;
	debug = cfg->runtime.debug;
	munmap(cfg, sizeof(*cfg));
	while ((ch = getopt(argc, argv, "dSu:U:q:s:t:")) != -1) {
		switch (ch) {
		case 'd':
			debug = 1;
			break;
		case 'S':
			vmmon.seccomp_mode = QB_SECCOMP_LOG;
			break;
		case 'u':
			vmmon.user = optarg;
			break;
		case 'U': {
			/* The shim took it from its range; never root. */
			char *end;
			unsigned long u = strtoul(optarg, &end, 10);

			if (*end != '\0' || u == 0 || u > 2147483646UL)
				usage();
			uid = (uid_t)u;
			break;
		}
		case 'q':
			vmmon.qemu_path = optarg;
			break;
		case 's':
			vmmon.share_path = optarg;
			break;
		case 't':
			vmmon.shutdown_timeout_ms = strtoull(optarg, NULL, 10);
			if (vmmon.shutdown_timeout_ms == 0 ||
			    vmmon.shutdown_timeout_ms > 600000)
				usage();
			break;
		default:
			usage();
		}
	}
	/* strftime() in the logger calls tzset(): never open /etc/localtime. */
	setenv("TZ", "UTC0", 1);
	tzset();
	log_init("qemubox-vmmon", debug);
	if (fstat(PROC_SPAWN_IMSG_FD, &st) == -1 || !S_ISSOCK(st.st_mode))
		fatalx(
		    "fd %d is not the shim's imsg socket", PROC_SPAWN_IMSG_FD);
	signal(SIGPIPE, SIG_IGN);
	startprof_mark("config");

	j.user = vmmon.user;
	j.uid = uid;
	j.qemu_path = vmmon.qemu_path;
	j.qemu_share_path = vmmon.share_path;
	vmmon_priv_drop(&j, &vmmon.jailed);

	memset(&vmmon.st, 0xff, sizeof(vmmon.st)); /* every staged fd -1 */
	probe_start();
	startprof_mark("probe");

	/* QEMU's QMP socket and console pipe exist before the launcher does. */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) == -1)
		fatal("socketpair qmp");
	vmmon.qmp_fd = sp[0];
	keep[0] = sp[1];
	/*
	 * The console is a pipe, not a socket: QEMU's UART writes one byte
	 * per call, and a stream socket charges each byte a whole buffer
	 * (278 one-byte writes fill it) where a pipe packs them into pages
	 * (65536). Read in CONSOLE_BATCH_MS batches, a socket stalled the
	 * guest's printk every 278 bytes and QEMU dropped bytes after its
	 * retries: 15 KB of boot log took ~6 s.
	 */
	if (pipe2(sp, O_CLOEXEC) == -1)
		fatal("pipe console");
	vmmon.con_fd = sp[0];
	keep[1] = sp[1];
	if (fcntl(vmmon.con_fd, F_SETFL, O_NONBLOCK) == -1)
		fatal("console nonblock");
	if (pipe2(errp, O_CLOEXEC) == -1)
		fatal("pipe");
	vmmon.err_fd = errp[0];
	if (fcntl(vmmon.err_fd, F_SETFL, O_NONBLOCK) == -1)
		fatal("stderr nonblock");
	vmmon.launcher_pid = launcher_fork(
	    keep, 2, errp[1], vmmon.seccomp_mode, &vmmon.launcher_sock);
	if (vmmon.launcher_pid == -1)
		fatal("fork launcher");
	close(keep[0]);
	close(keep[1]);
	close(errp[1]);
	startprof_mark("launcher");

	if (seccomp_apply_vmmon(
	        vmmon.seccomp_mode, vmmon.launcher_pid, vmmon.probe_pid) == -1)
		fatal("seccomp");
	startprof_mark("seccomp");
	startprof_report(__func__);

	imsg_init(&vmmon.ibuf, PROC_SPAWN_IMSG_FD);
	if (fcntl(PROC_SPAWN_IMSG_FD, F_SETFL, O_NONBLOCK) == -1)
		fatal("imsg nonblock");
	vmmon.vm.pidfd = vmmon.vm.con_fd = vmmon.vm.log_fd = -1;
	vmmon.vm.ram_fd = vmmon.vm.state_fd = -1;
	loop();
	return 0;
}
