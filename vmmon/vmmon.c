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
#include "lib/proc_spawn.h"
#include "vmmon/qemu_launcher.h"
#include "vmmon/vmmon.h"

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
	struct qb_imsg_error e;
	va_list ap;

	memset(&e, 0, sizeof(e));
	e.req_type = req_type;
	e.errnum = errnum;
	e.code = code;
	va_start(ap, fmt);
	vsnprintf(e.msg, sizeof(e.msg), fmt, ap);
	va_end(ap);
	log_warnx("request %u failed: %s", req_type, e.msg);
	send_msg(IMSG_ERROR, peerid, &e, sizeof(e));
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

static void
fatal_peer(const char *why, uint32_t type)
{
	vm_kill("shim protocol violation");
	fatalx("shim protocol violation: %s (type %u)", why, type);
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

static void
vmmon_dispatch_shim(struct imsg *imsg)
{
	uint32_t type = imsg_get_type(imsg), peerid = imsg_get_id(imsg);
	struct qb_vmm_fd f;
	struct qb_vmm_shutdown_req sd;
	struct qb_vmm_mem_add_req ma;
	struct qb_error err = {0};
	struct req *r;
	int fd;

	/* Requests in the wrong state are answered, not acted on. */
	switch (type) {
	case IMSG_VMM_FD_REQ:
		if (qb_imsg_get_struct(imsg, &f, sizeof(f)) == -1)
			fatal_peer("bad FD_REQ", type);
		if ((fd = qb_imsg_take_fd(imsg)) == -1)
			fatal_peer("FD_REQ without an fd", type);
		if (vmmon.vm.state != VM_NONE || vmmon.start_deferred ||
		    stage_fd(&f, fd) == -1) {
			close(fd);
			send_error(peerid, type, EINVAL, QB_E_INVALID,
			    "fd role %u index %u refused", f.role, f.index);
		}
		break;
	case IMSG_VMM_START_REQ:
		if (qb_imsg_get_struct(
		        imsg, &vmmon.start_req, sizeof(vmmon.start_req)) == -1)
			fatal_peer("bad START_REQ", type);
		if (vmmon.vm.state != VM_NONE || vmmon.start_deferred) {
			send_error(peerid, type, EBUSY, QB_E_PRECONDITION,
			    "a VM was already started");
			break;
		}
		if (vmmon.kvm_ok == -1 &&
		    vmmon.start_req.accel != QB_VMM_ACCEL_TCG) {
			/* Finish the probe first (bounded). */
			vmmon.start_deferred = true;
			vmmon.start_peerid = peerid;
			break;
		}
		if (vm_start(&vmmon.start_req, peerid, &err) == -1) {
			staged_reset();
			send_error(
			    peerid, type, 0, err.code, "start: %s", err.msg);
		}
		break;
	case IMSG_VMM_SHUTDOWN_REQ:
		if (qb_imsg_get_struct(imsg, &sd, sizeof(sd)) == -1)
			fatal_peer("bad SHUTDOWN_REQ", type);
		if (vmmon.vm.state != VM_STARTING &&
		    vmmon.vm.state != VM_RUNNING) {
			send_msg(IMSG_VMM_SHUTDOWN_RES, peerid, NULL, 0);
			break;
		}
		if (vmmon.vm.sd_reply) {
			send_error(peerid, type, EBUSY, QB_E_PRECONDITION,
			    "shutdown already in progress");
			break;
		}
		vmmon.vm.sd_reply = true;
		vmmon.vm.sd_peerid = peerid;
		vmmon.vm.sd_timeout =
		    sd.timeout_ms ? sd.timeout_ms : vmmon.shutdown_timeout_ms;
		if (vmmon.vm.sd_step == 0)
			sd_advance();
		break;
	case IMSG_VMM_STATUS_REQ:
	case IMSG_VMM_PAUSE_REQ:
	case IMSG_VMM_RESUME_REQ:
	case IMSG_VMM_CPU_ADD_REQ:
	case IMSG_VMM_CPU_DEL_REQ:
	case IMSG_VMM_CPU_QUERY_REQ:
	case IMSG_VMM_MEM_ADD_REQ:
	case IMSG_VMM_MEM_DEL_REQ:
	case IMSG_VMM_MEM_QUERY_REQ:
		ma.size_mb = 0;
		if (type == IMSG_VMM_MEM_ADD_REQ) {
			if (qb_imsg_get_struct(imsg, &ma, sizeof(ma)) == -1)
				fatal_peer("bad MEM_ADD_REQ", type);
		} else if (imsg_get_len(imsg) != 0)
			fatal_peer("payload on an empty request", type);
		if (vmmon.vm.state != VM_RUNNING || vmmon.vm.sd_step != 0) {
			send_error(peerid, type, 0, QB_E_PRECONDITION,
			    "the VM is not running");
			break;
		}
		if (type >= IMSG_VMM_CPU_ADD_REQ &&
		    vmmon.vm.start_res.machine != QB_VMM_MACHINE_Q35) {
			send_error(peerid, type, 0, QB_E_PRECONDITION,
			    "hotplug needs machine q35 (VM is microvm)");
			break;
		}
		/*
		 * Measured: after a vCPU unplug under TCG, QEMU 7.2 aborts
		 * soon after (heap corruption; reproduced with plain QEMU,
		 * outside qemubox). Refusing keeps the sandbox alive.
		 */
		if (type == IMSG_VMM_CPU_DEL_REQ &&
		    vmmon.vm.start_res.accel == QB_VMM_ACCEL_TCG) {
			send_error(peerid, type, 0, QB_E_PRECONDITION,
			    "vCPU hot-unplug is disabled under TCG (QEMU 7.2 "
			    "corrupts its heap after it)");
			break;
		}
		if (type == IMSG_VMM_MEM_ADD_REQ &&
		    (ma.size_mb == 0 || ma.size_mb % 128 != 0 ||
		        ma.size_mb > 1024 * 1024)) {
			send_error(peerid, type, 0, QB_E_INVALID,
			    "memory size %" PRIu64
			    " MiB: need a multiple of 128",
			    ma.size_mb);
			break;
		}
		r = req_new(peerid, type);
		r->size = ma.size_mb;
		switch (type) {
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
		default:
			hotplug_mem(r);
			break;
		}
		break;
	default:
		fatal_peer("unexpected message", type);
	}
}

/* ---- main loop ---- */

static void
teardown_and_exit(int code)
{
	int status;

	/* No QEMU outlives its monitor. */
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
	exit(code);
}

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
			pfd[P_CON].fd = vmmon.vm.con_fd;
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
					fatal_peer("imsg_get", 0);
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
			    (pfd[P_CON].revents & (POLLIN | POLLHUP)))
				console_read();
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
	fprintf(stderr, "usage: qemubox-vmmon [-dS] [-u user] [-q qemu] "
	                "[-s qemu_share_dir] [-t shutdown_timeout_ms]\n");
	exit(2);
}

int
main(int argc, char *argv[])
{
	static struct qb_config cfg;
	struct vmmon_jail j;
	struct qb_error err = {0};
	int ch, debug = 0, keep[2], sp[2], errp[2];
	struct stat st;
	const char *cfg_path;

	log_init("qemubox-vmmon", 0);
	qb_config_defaults(&cfg);
	cfg_path = qb_config_path();
	if (access(cfg_path, F_OK) == 0 &&
	    qb_config_load(cfg_path, &cfg, &err) == -1)
		fatalx("%s", err.msg);
	vmmon.user = cfg.security.vmmon_user;
	vmmon.qemu_path = cfg.paths.qemu_path;
	vmmon.share_path = cfg.paths.qemu_share_path;
	vmmon.shutdown_timeout_ms = cfg.runtime.shutdown_timeout_ms;
	vmmon.seccomp_mode = cfg.security.seccomp;
	debug = cfg.runtime.debug;
	while ((ch = getopt(argc, argv, "dSu:q:s:t:")) != -1) {
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

	j.user = vmmon.user;
	j.qemu_path = vmmon.qemu_path;
	j.qemu_share_path = vmmon.share_path;
	vmmon_priv_drop(&j, &vmmon.jailed);

	memset(&vmmon.st, 0xff, sizeof(vmmon.st)); /* every staged fd -1 */
	probe_start();

	/* QEMU's QMP and console sockets exist before the launcher does. */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) == -1)
		fatal("socketpair qmp");
	vmmon.qmp_fd = sp[0];
	keep[0] = sp[1];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) == -1)
		fatal("socketpair console");
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

	if (seccomp_apply_vmmon(vmmon.seccomp_mode) == -1)
		fatal("seccomp");

	imsg_init(&vmmon.ibuf, PROC_SPAWN_IMSG_FD);
	if (fcntl(PROC_SPAWN_IMSG_FD, F_SETFL, O_NONBLOCK) == -1)
		fatal("imsg nonblock");
	vmmon.vm.pidfd = vmmon.vm.con_fd = vmmon.vm.log_fd = -1;
	loop();
	return 0;
}
