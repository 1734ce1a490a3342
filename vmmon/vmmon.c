/*
 * qemubox-vmmon: the unprivileged VM monitor.
 *
 * Started by the shim daemon (lib/proc_spawn) with its imsg socket on fd 3.
 * Before reading anything it jails itself (vmmon_priv.c), forks the QEMU
 * launcher (qemu_launcher.c) and loads its own seccomp filter. Then one
 * poll loop serves the shim (vmmon_dispatch_shim), QMP, the console relay
 * and QEMU's exit. One VM per vmmon. When the shim's end closes, QEMU is
 * killed and reaped before vmmon exits: no QEMU outlives its sandbox.
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
#include <sys/syscall.h>
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

#include <json-c/json.h>

#include "imsg/imsg.h"
#include "imsg/qemubox_imsg.h"
#include "lib/config.h"
#include "lib/error.h"
#include "lib/log.h"
#include "lib/proc_spawn.h"
#include "seccomp/seccomp.h"
#include "vmmon/qemu_argv.h"
#include "vmmon/qemu_launcher.h"
#include "vmmon/qmp.h"
#include "vmmon/vmmon_priv.h"

#define CONSOLE_DEFAULT_MAX  (16ull * 1024 * 1024)
#define QMP_CMD_TIMEOUT_MS   10000
#define QMP_READY_TIMEOUT_MS 30000
#define KVM_PROBE_TIMEOUT_MS 1500
#define UNPLUG_TIMEOUT_MS    60000
#define MAX_HOTPLUG          64

enum vm_state { VM_NONE, VM_STARTING, VM_RUNNING, VM_EXITED };

/* An imsg request waiting on QMP. */
struct req {
	uint32_t peerid;
	uint32_t type;
	int step;
	uint64_t size;
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
	int con_fd; /* our end of QEMU's serial console */
	int log_fd; /* console.log from the shim, -1 = discard */
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
	struct unplug unplug;
	unsigned max_cpus;
};

struct staged {
	int kernel, initrd, channel, log, tap, vhost;
	int disks[QB_VMM_MAX_DISKS];
};

static struct vmmon {
	struct imsgbuf ibuf;
	const char *user, *qemu_path, *share_path;
	enum qb_seccomp_mode seccomp_mode;
	uint64_t shutdown_timeout_ms;
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
} g;

/* ---- replies to the shim ---- */

static void
send_msg(uint32_t type, uint32_t peerid, const void *data, size_t len)
{
	if (imsg_compose(&g.ibuf, type, peerid, 0, -1, data, len) == -1)
		fatal("%s: imsg_compose", __func__);
}

static void send_error(uint32_t peerid, uint32_t req_type, int errnum, int code,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void
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

static void
send_guest_evt(uint32_t kind, const char *detail)
{
	struct qb_vmm_guest_evt ev;

	memset(&ev, 0, sizeof(ev));
	ev.kind = kind;
	snprintf(ev.detail, sizeof(ev.detail), "%s", detail ? detail : "");
	send_msg(IMSG_VMM_GUEST_EVT, 0, &ev, sizeof(ev));
}

/* ---- staged fds ---- */

static void
staged_reset(void)
{
	int i;

	if (g.st.kernel != -1)
		close(g.st.kernel);
	if (g.st.initrd != -1)
		close(g.st.initrd);
	if (g.st.channel != -1)
		close(g.st.channel);
	if (g.st.log != -1)
		close(g.st.log);
	if (g.st.tap != -1)
		close(g.st.tap);
	if (g.st.vhost != -1)
		close(g.st.vhost);
	for (i = 0; i < QB_VMM_MAX_DISKS; i++)
		if (g.st.disks[i] != -1)
			close(g.st.disks[i]);
	g.st.kernel = g.st.initrd = g.st.channel = g.st.log = g.st.tap =
	    g.st.vhost = -1;
	for (i = 0; i < QB_VMM_MAX_DISKS; i++)
		g.st.disks[i] = -1;
}

static int
stage_fd(const struct qb_vmm_fd *f, int fd)
{
	int *slot;

	switch (f->role) {
	case QB_VMM_FD_KERNEL:
		slot = &g.st.kernel;
		break;
	case QB_VMM_FD_INITRD:
		slot = &g.st.initrd;
		break;
	case QB_VMM_FD_CHANNEL:
		slot = &g.st.channel;
		break;
	case QB_VMM_FD_CONSOLE_LOG:
		slot = &g.st.log;
		break;
	case QB_VMM_FD_TAP:
		slot = &g.st.tap;
		break;
	case QB_VMM_FD_VHOST_VSOCK:
		slot = &g.st.vhost;
		break;
	case QB_VMM_FD_DISK:
		if (f->index >= QB_VMM_MAX_DISKS)
			return -1;
		slot = &g.st.disks[f->index];
		break;
	default:
		return -1;
	}
	if (f->role != QB_VMM_FD_DISK && f->index != 0)
		return -1;
	if (*slot != -1)
		return -1;
	*slot = fd;
	return 0;
}

/* ---- QMP plumbing ---- */

static void req_fail(struct req *r, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
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
static bool
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

static int
vm_qmp(const char *cmd, json_object *args, qmp_result_cb cb, void *arg)
{
	return qmp_execute(g.vm.qmp, cmd, args, QMP_CMD_TIMEOUT_MS, cb, arg);
}

/* The next QMP command of request r; r fails if QMP cannot take it. */
static void
req_qmp(struct req *r, const char *cmd, json_object *args, qmp_result_cb cb)
{
	if (vm_qmp(cmd, args, cb, r) == -1)
		req_fail(r, QB_E_INTERNAL, "qmp %s: %s", cmd, strerror(errno));
}

static void
vm_kill(const char *why)
{
	if (g.vm.pid > 0 &&
	    (g.vm.state == VM_STARTING || g.vm.state == VM_RUNNING)) {
		if (!g.vm.killed)
			g.vm.kill_why = why;
		g.vm.killed = true;
		kill(g.vm.pid, SIGKILL);
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

/* ---- CPU hotplug ---- */

static void cpu_step(struct req *r, const struct qmp_result *res);

static void
cpu_cb(void *arg, const struct qmp_result *res)
{
	cpu_step(arg, res);
}

/* Counts plugged and total vCPUs; picks the first free slot's entry. */
static int
cpus_scan(json_object *list, unsigned *present, unsigned *max,
    json_object **free_slot)
{
	size_t i, n;

	if (!json_object_is_type(list, json_type_array))
		return -1;
	n = json_object_array_length(list);
	if (n > 1024)
		return -1;
	*present = *max = 0;
	if (free_slot != NULL)
		*free_slot = NULL;
	for (i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(list, i), *vc;
		int cnt = 1;

		if (!json_object_is_type(e, json_type_object))
			return -1;
		if (json_object_object_get_ex(e, "vcpus-count", &vc) &&
		    json_object_is_type(vc, json_type_int))
			cnt = json_object_get_int(vc);
		if (cnt < 1 || cnt > 256)
			return -1;
		*max += (unsigned)cnt;
		if (json_object_object_get_ex(e, "qom-path", NULL))
			*present += (unsigned)cnt;
		else if (free_slot != NULL && *free_slot == NULL)
			*free_slot = e;
	}
	return 0;
}

/* device_add arguments from a free slot: driver=type, id, props copied. */
static json_object *
cpu_add_args(json_object *slot, const char *id)
{
	static const char *const keys[] = {"node-id", "socket-id", "die-id",
	    "cluster-id", "core-id", "thread-id", NULL};
	json_object *args, *type, *props, *v;
	size_t i;

	if (!json_object_object_get_ex(slot, "type", &type) ||
	    !json_object_is_type(type, json_type_string) ||
	    !qemu_argv_safe_token(json_object_get_string(type)) ||
	    !json_object_object_get_ex(slot, "props", &props) ||
	    !json_object_is_type(props, json_type_object))
		return NULL;
	if ((args = json_object_new_object()) == NULL)
		return NULL;
	json_object_object_add(args, "driver",
	    json_object_new_string(json_object_get_string(type)));
	json_object_object_add(args, "id", json_object_new_string(id));
	/* Only the topology keys we know, only integers. */
	for (i = 0; keys[i] != NULL; i++) {
		if (!json_object_object_get_ex(props, keys[i], &v))
			continue;
		if (!json_object_is_type(v, json_type_int)) {
			json_object_put(args);
			return NULL;
		}
		json_object_object_add(args, keys[i],
		    json_object_new_int64(json_object_get_int64(v)));
	}
	return args;
}

static void
cpu_reply(struct req *r, unsigned present, unsigned max)
{
	struct qb_vmm_cpu_res out;

	memset(&out, 0, sizeof(out));
	out.present = present;
	out.max = max;
	snprintf(out.dev_id, sizeof(out.dev_id), "%s", r->dev);
	send_msg(IMSG_VMM_CPU_RES, r->peerid, &out, sizeof(out));
	free(r);
}

/*
 * Unplug the last of the n hot-added devices in ids: fail r when there is
 * none or another unplug is running, else ask QEMU to device_del it.
 */
static void
unplug_start(struct req *r, unsigned n, char (*ids)[QB_VMM_DEVID_MAX],
    const char *what, qmp_result_cb cb)
{
	json_object *args;

	if (n == 0) {
		req_fail(
		    r, QB_E_PRECONDITION, "no hot-added %s to remove", what);
		return;
	}
	if (g.vm.unplug.r != NULL) {
		req_fail(r, QB_E_UNAVAILABLE, "another unplug is in progress");
		return;
	}
	snprintf(r->dev, sizeof(r->dev), "%s", ids[n - 1]);
	args = json_object_new_object();
	json_object_object_add(args, "id", json_object_new_string(r->dev));
	req_qmp(r, "device_del", args, cb);
}

/* device_del went to the guest; its DEVICE_DELETED finishes r. */
static void
unplug_wait(struct req *r)
{
	g.vm.unplug.r = r;
	g.vm.unplug.deadline = qmp_now_ms() + UNPLUG_TIMEOUT_MS;
}

/* Answer r with fresh vCPU counts. */
static void
cpu_query(struct req *r)
{
	r->type = IMSG_VMM_CPU_QUERY_REQ;
	r->step = 1;
	req_qmp(r, "query-hotpluggable-cpus", NULL, cpu_cb);
}

static void
cpu_step(struct req *r, const struct qmp_result *res)
{
	json_object *slot, *args;
	unsigned present, max;

	if (res != NULL && qmp_failed(r, res, "cpu hotplug"))
		return;
	switch (r->step++) {
	case 0:
		if (r->type == IMSG_VMM_CPU_DEL_REQ) {
			unplug_start(r, g.vm.ncpus, g.vm.cpus, "vCPU", cpu_cb);
			return;
		}
		req_qmp(r, "query-hotpluggable-cpus", NULL, cpu_cb);
		return;
	case 1:
		if (r->type == IMSG_VMM_CPU_DEL_REQ) {
			unplug_wait(r);
			return;
		}
		if (cpus_scan(res->ret, &present, &max,
		        r->type == IMSG_VMM_CPU_ADD_REQ ? &slot : NULL) == -1) {
			req_fail(r, QB_E_INTERNAL,
			    "query-hotpluggable-cpus: malformed reply");
			return;
		}
		if (r->type == IMSG_VMM_CPU_QUERY_REQ) {
			cpu_reply(r, present, max);
			return;
		}
		if (slot == NULL || g.vm.ncpus >= MAX_HOTPLUG) {
			req_fail(
			    r, QB_E_EXHAUSTED, "all %u vCPUs are present", max);
			return;
		}
		snprintf(r->dev, sizeof(r->dev), "qbcpu%u", ++g.vm.seq);
		if ((args = cpu_add_args(slot, r->dev)) == NULL) {
			req_fail(r, QB_E_INTERNAL,
			    "query-hotpluggable-cpus: malformed slot");
			return;
		}
		req_qmp(r, "device_add", args, cpu_cb);
		return;
	case 2:
		snprintf(
		    g.vm.cpus[g.vm.ncpus++], QB_VMM_DEVID_MAX, "%s", r->dev);
		cpu_query(r);
		return;
	}
}

/* ---- memory hotplug ---- */

static void mem_step(struct req *r, const struct qmp_result *res);

static void
mem_cb(void *arg, const struct qmp_result *res)
{
	mem_step(arg, res);
}

static void
mem_query(struct req *r)
{
	r->step = 100;
	req_qmp(r, "query-memory-size-summary", NULL, mem_cb);
}

static void
mem_step(struct req *r, const struct qmp_result *res)
{
	struct qb_vmm_mem_res out;
	json_object *args, *v;

	if (res != NULL && qmp_failed(r, res, "memory hotplug"))
		return;
	switch (r->step++) {
	case 0:
		if (r->type == IMSG_VMM_MEM_QUERY_REQ) {
			mem_query(r);
			return;
		}
		if (r->type == IMSG_VMM_MEM_DEL_REQ) {
			/* Its backend object goes once the DIMM is gone. */
			if (g.vm.ndimms > 0)
				snprintf(r->mem, sizeof(r->mem), "%s",
				    g.vm.mems[g.vm.ndimms - 1]);
			unplug_start(
			    r, g.vm.ndimms, g.vm.dimms, "memory", mem_cb);
			return;
		}
		if (g.vm.ndimms >= MAX_HOTPLUG) {
			req_fail(r, QB_E_EXHAUSTED, "too many DIMMs");
			return;
		}
		g.vm.seq++;
		snprintf(r->mem, sizeof(r->mem), "qbmem%u", g.vm.seq);
		snprintf(r->dev, sizeof(r->dev), "qbdimm%u", g.vm.seq);
		args = json_object_new_object();
		json_object_object_add(args, "qom-type",
		    json_object_new_string("memory-backend-ram"));
		json_object_object_add(
		    args, "id", json_object_new_string(r->mem));
		json_object_object_add(args, "size",
		    json_object_new_int64((int64_t)(r->size << 20)));
		req_qmp(r, "object-add", args, mem_cb);
		return;
	case 1:
		if (r->type == IMSG_VMM_MEM_DEL_REQ) {
			unplug_wait(r);
			return;
		}
		args = json_object_new_object();
		json_object_object_add(
		    args, "driver", json_object_new_string("pc-dimm"));
		json_object_object_add(
		    args, "id", json_object_new_string(r->dev));
		json_object_object_add(
		    args, "memdev", json_object_new_string(r->mem));
		req_qmp(r, "device_add", args, mem_cb);
		return;
	case 2:
		if (r->type == IMSG_VMM_MEM_DEL_REQ) {
			/* object-del done: the DIMM is gone. */
			g.vm.ndimms--;
		} else {
			snprintf(g.vm.dimms[g.vm.ndimms], QB_VMM_DEVID_MAX,
			    "%s", r->dev);
			snprintf(g.vm.mems[g.vm.ndimms], QB_VMM_DEVID_MAX, "%s",
			    r->mem);
			g.vm.ndimms++;
		}
		mem_query(r);
		return;
	case 100:
		memset(&out, 0, sizeof(out));
		if (!json_object_is_type(res->ret, json_type_object) ||
		    !json_object_object_get_ex(res->ret, "base-memory", &v) ||
		    !json_object_is_type(v, json_type_int)) {
			req_fail(r, QB_E_INTERNAL,
			    "query-memory-size-summary: malformed reply");
			return;
		}
		out.base_bytes = (uint64_t)json_object_get_int64(v);
		if (json_object_object_get_ex(res->ret, "plugged-memory", &v) &&
		    json_object_is_type(v, json_type_int))
			out.plugged_bytes = (uint64_t)json_object_get_int64(v);
		snprintf(out.dev_id, sizeof(out.dev_id), "%s", r->dev);
		send_msg(IMSG_VMM_MEM_RES, r->peerid, &out, sizeof(out));
		free(r);
		return;
	}
}

/* DEVICE_DELETED for the device we are unplugging. */
static void
unplug_done(bool ok, const char *why)
{
	struct req *r = g.vm.unplug.r;
	json_object *args;

	g.vm.unplug.r = NULL;
	if (!ok) {
		req_fail(r, QB_E_ABORTED, "unplug %s: %s", r->dev, why);
		return;
	}
	if (r->type == IMSG_VMM_CPU_DEL_REQ) {
		g.vm.ncpus--;
		cpu_query(r);
		return;
	}
	args = json_object_new_object();
	json_object_object_add(args, "id", json_object_new_string(r->mem));
	r->step = 2;
	req_qmp(r, "object-del", args, mem_cb);
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
		g.vm.got_shutdown = true;
		snprintf(g.vm.shutdown_reason, sizeof(g.vm.shutdown_reason),
		    "%s", data_str(data, "reason"));
		if (data != NULL &&
		    json_object_object_get_ex(data, "guest", &v))
			g.vm.shutdown_guest = json_object_get_boolean(v);
	} else if (strcmp(name, "POWERDOWN") == 0)
		send_guest_evt(QB_VMM_GUEST_EVT_POWERDOWN, "");
	else if (strcmp(name, "RESET") == 0)
		send_guest_evt(
		    QB_VMM_GUEST_EVT_RESET, data_str(data, "reason"));
	else if (strcmp(name, "GUEST_PANICKED") == 0)
		send_guest_evt(QB_VMM_GUEST_EVT_PANICKED, "");
	else if (strcmp(name, "STOP") == 0)
		send_guest_evt(QB_VMM_GUEST_EVT_STOP, "");
	else if (strcmp(name, "RESUME") == 0)
		send_guest_evt(QB_VMM_GUEST_EVT_RESUME, "");
	else if (strcmp(name, "DEVICE_DELETED") == 0) {
		char idbuf[QB_VMM_DEVID_MAX];
		const char *dev = event_device(data, idbuf, sizeof(idbuf));

		send_guest_evt(QB_VMM_GUEST_EVT_DEVICE_DELETED, dev);
		if (g.vm.unplug.r != NULL &&
		    strcmp(dev, g.vm.unplug.r->dev) == 0)
			unplug_done(true, NULL);
	} else if (strcmp(name, "DEVICE_UNPLUG_GUEST_ERROR") == 0) {
		char idbuf[QB_VMM_DEVID_MAX];
		const char *dev = event_device(data, idbuf, sizeof(idbuf));

		send_guest_evt(QB_VMM_GUEST_EVT_UNPLUG_ERROR, dev);
		if (g.vm.unplug.r != NULL &&
		    strcmp(dev, g.vm.unplug.r->dev) == 0)
			unplug_done(false, "the guest refused");
	}
}

static void
on_qmp_ready(void *arg)
{
	(void)arg;
	if (g.vm.state != VM_STARTING)
		return;
	g.vm.qmp_ready = true;
	g.vm.state = VM_RUNNING;
	log_info("%s: QEMU pid %d up", __func__, (int)g.vm.pid);
	send_msg(IMSG_VMM_START_RES, g.vm.start_peerid, &g.vm.start_res,
	    sizeof(g.vm.start_res));
}

/* ---- VM start ---- */

static int
accel_resolve(uint32_t want, enum qb_vmm_accel *out, struct qb_error *err)
{
	switch (want) {
	case QB_VMM_ACCEL_AUTO:
		*out = g.kvm_ok == 1 ? QB_VMM_ACCEL_KVM : QB_VMM_ACCEL_TCG;
		return 0;
	case QB_VMM_ACCEL_KVM:
		if (g.kvm_ok != 1)
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

	if (g.launcher_pid <= 0)
		return qb_seterr(
		    err, QB_E_PRECONDITION, "this vmmon already ran its VM");
	/* Fixed-size strings from the peer: NUL inside, then validated. */
	if (qb_imsg_check_strfield(q->id, sizeof(q->id)) == -1 ||
	    qb_imsg_check_strfield(q->cmdline, sizeof(q->cmdline)) == -1)
		return qb_seterr(err, QB_E_INVALID, "unterminated string");
	memcpy(id, q->id, sizeof(id));
	memcpy(cmdline, q->cmdline, sizeof(cmdline));
	if (accel_resolve(q->accel, &accel, err) == -1)
		return -1;
	if (q->ndisks > QB_VMM_MAX_DISKS)
		return qb_seterr(err, QB_E_INVALID, "too many disks");
	if (q->machine > QB_VMM_MACHINE_Q35)
		return qb_seterr(err, QB_E_INVALID, "unknown machine");

	memset(&c, 0, sizeof(c));
	c.qemu_path = g.jailed.qemu_path;
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
	c.tsc_khz = g.jailed.tsc_khz;
	c.cmdline_extra = cmdline;
	c.guest_cid = q->guest_cid;
	c.qmp_fd = 3;
	c.console_fd = 4;
	c.channel_fd = c.vhost_vsock_fd = c.tap_fd = -1;

	/* Required fds, then optional ones, numbered as QEMU will see them. */
	if (g.st.kernel == -1 || g.st.initrd == -1)
		return qb_seterr(
		    err, QB_E_INVALID, "kernel or initrd fd missing");
	c.kernel_fd = next++;
	fds[nfds++] = g.st.kernel;
	c.initrd_fd = next++;
	fds[nfds++] = g.st.initrd;
	if (q->transport == QB_VMM_TRANSPORT_VIRTIO_SERIAL) {
		if (g.st.channel == -1)
			return qb_seterr(
			    err, QB_E_INVALID, "channel fd missing");
		c.channel_fd = next++;
		fds[nfds++] = g.st.channel;
	} else if (q->transport == QB_VMM_TRANSPORT_VSOCK) {
		if (g.st.vhost == -1)
			return qb_seterr(
			    err, QB_E_INVALID, "vhost-vsock fd missing");
		c.vhost_vsock_fd = next++;
		fds[nfds++] = g.st.vhost;
	}
	if (q->has_tap) {
		if (g.st.tap == -1)
			return qb_seterr(err, QB_E_INVALID, "tap fd missing");
		c.tap_fd = next++;
		fds[nfds++] = g.st.tap;
		memcpy(c.mac, q->mac, sizeof(c.mac));
	} else if (g.st.tap != -1)
		return qb_seterr(err, QB_E_INVALID, "tap fd without has_tap");
	c.ndisks = q->ndisks;
	for (i = 0; i < QB_VMM_MAX_DISKS; i++) {
		if ((unsigned)i >= q->ndisks) {
			if (g.st.disks[i] != -1)
				return qb_seterr(err, QB_E_INVALID,
				    "disk fd %d beyond ndisks", i);
			continue;
		}
		if (g.st.disks[i] == -1)
			return qb_seterr(
			    err, QB_E_INVALID, "disk %d: fd missing", i);
		if (qb_imsg_check_strfield(
		        q->disks[i].serial, sizeof(q->disks[i].serial)) == -1)
			return qb_seterr(err, QB_E_INVALID,
			    "disk %d: serial unterminated", i);
		c.disks[i].fd = next++;
		c.disks[i].readonly = q->disks[i].readonly != 0;
		memcpy(c.disks[i].serial, q->disks[i].serial,
		    sizeof(c.disks[i].serial));
		fds[nfds++] = g.st.disks[i];
	}
	if (qemu_argv_build(&c, &a, err) == -1)
		return -1;
	if (log_get_debug()) {
		for (i = 0; i < (int)a.argc; i++)
			log_debug("%s: argv[%d] %s", __func__, i, a.argv[i]);
	}
	if (launcher_exec(g.launcher_sock, a.argv, fds, nfds) == -1) {
		qemu_argv_free(&a);
		return qb_seterr(
		    err, QB_E_INTERNAL, "launch QEMU: %s", strerror(errno));
	}
	qemu_argv_free(&a);
	close(g.launcher_sock);
	g.launcher_sock = -1;

	memset(&g.vm, 0, sizeof(g.vm));
	g.vm.state = VM_STARTING;
	g.vm.pid = g.launcher_pid;
	g.launcher_pid = -1;
	g.vm.pidfd = (int)syscall(SYS_pidfd_open, g.vm.pid, 0);
	g.vm.con_fd = g.con_fd;
	g.con_fd = -1;
	g.vm.log_fd = g.st.log;
	g.st.log = -1;
	g.vm.log_max =
	    q->console_max_bytes ? q->console_max_bytes : CONSOLE_DEFAULT_MAX;
	g.vm.start_peerid = peerid;
	g.vm.start_res.pid = g.vm.pid;
	g.vm.start_res.machine = c.machine;
	g.vm.start_res.accel = c.accel;
	g.vm.max_cpus = c.max_cpus;
	g.vm.ready_deadline = qmp_now_ms() + QMP_READY_TIMEOUT_MS;
	/* Kept for the VM's life: QEMU 7.2 frees unused fd sets when the
	 * last QMP connection closes (WIRE 6.6). */
	if ((g.vm.qmp = qmp_new(g.qmp_fd, &qcb)) == NULL)
		fatal("%s: qmp_new", __func__);
	g.qmp_fd = -1;
	staged_reset(); /* QEMU holds its own copies now */
	return 0;
}

/* ---- shutdown ---- */

static void
sd_ack(void *arg, const struct qmp_result *res)
{
	(void)arg;
	(void)res; /* the deadline drives the next step either way */
}

static void
sd_advance(void)
{
	uint64_t now = qmp_now_ms();

	switch (g.vm.sd_step) {
	case 0:
		g.vm.sd_step = 1;
		if (g.vm.qmp != NULL && g.vm.qmp_ready &&
		    vm_qmp("system_powerdown", NULL, sd_ack, NULL) == 0) {
			g.vm.sd_deadline = now + g.vm.sd_timeout;
			break;
		}
		/* FALLTHROUGH */
	case 1:
		g.vm.sd_step = 2;
		if (g.vm.qmp != NULL && g.vm.qmp_ready &&
		    vm_qmp("quit", NULL, sd_ack, NULL) == 0) {
			g.vm.sd_deadline = now + g.vm.sd_timeout;
			break;
		}
		/* FALLTHROUGH */
	case 2:
		g.vm.sd_step = 3;
		log_warnx("%s: QEMU %d did not stop, SIGKILL", __func__,
		    (int)g.vm.pid);
		vm_kill("the shutdown steps timed out");
		g.vm.sd_deadline = 0;
		break;
	}
}

/* ---- the shim's requests ---- */

static void
fatal_peer(const char *why, uint32_t type)
{
	vm_kill("shim protocol violation");
	fatalx("shim protocol violation: %s (type %u)", why, type);
}

static struct req *
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
		if (g.vm.state != VM_NONE || g.start_deferred ||
		    stage_fd(&f, fd) == -1) {
			close(fd);
			send_error(peerid, type, EINVAL, QB_E_INVALID,
			    "fd role %u index %u refused", f.role, f.index);
		}
		break;
	case IMSG_VMM_START_REQ:
		if (qb_imsg_get_struct(
		        imsg, &g.start_req, sizeof(g.start_req)) == -1)
			fatal_peer("bad START_REQ", type);
		if (g.vm.state != VM_NONE || g.start_deferred) {
			send_error(peerid, type, EBUSY, QB_E_PRECONDITION,
			    "a VM was already started");
			break;
		}
		if (g.kvm_ok == -1 && g.start_req.accel != QB_VMM_ACCEL_TCG) {
			/* Finish the probe first (bounded). */
			g.start_deferred = true;
			g.start_peerid = peerid;
			break;
		}
		if (vm_start(&g.start_req, peerid, &err) == -1) {
			staged_reset();
			send_error(
			    peerid, type, 0, err.code, "start: %s", err.msg);
		}
		break;
	case IMSG_VMM_SHUTDOWN_REQ:
		if (qb_imsg_get_struct(imsg, &sd, sizeof(sd)) == -1)
			fatal_peer("bad SHUTDOWN_REQ", type);
		if (g.vm.state != VM_STARTING && g.vm.state != VM_RUNNING) {
			send_msg(IMSG_VMM_SHUTDOWN_RES, peerid, NULL, 0);
			break;
		}
		if (g.vm.sd_reply) {
			send_error(peerid, type, EBUSY, QB_E_PRECONDITION,
			    "shutdown already in progress");
			break;
		}
		g.vm.sd_reply = true;
		g.vm.sd_peerid = peerid;
		g.vm.sd_timeout =
		    sd.timeout_ms ? sd.timeout_ms : g.shutdown_timeout_ms;
		if (g.vm.sd_step == 0)
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
		if (g.vm.state != VM_RUNNING || g.vm.sd_step != 0) {
			send_error(peerid, type, 0, QB_E_PRECONDITION,
			    "the VM is not running");
			break;
		}
		if (type >= IMSG_VMM_CPU_ADD_REQ &&
		    g.vm.start_res.machine != QB_VMM_MACHINE_Q35) {
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
		    g.vm.start_res.accel == QB_VMM_ACCEL_TCG) {
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
			req_qmp(r, "query-status", NULL, status_done);
			break;
		case IMSG_VMM_PAUSE_REQ:
			req_qmp(r, "stop", NULL, simple_done);
			break;
		case IMSG_VMM_RESUME_REQ:
			req_qmp(r, "cont", NULL, simple_done);
			break;
		case IMSG_VMM_CPU_ADD_REQ:
		case IMSG_VMM_CPU_DEL_REQ:
		case IMSG_VMM_CPU_QUERY_REQ:
			cpu_step(r, NULL);
			break;
		default:
			mem_step(r, NULL);
			break;
		}
		break;
	default:
		fatal_peer("unexpected message", type);
	}
}

/* ---- QEMU's exit ---- */

static void
vm_exited(int status)
{
	struct qb_vmm_exit_evt ev;

	memset(&ev, 0, sizeof(ev));
	ev.pid = g.vm.pid;
	if (WIFEXITED(status)) {
		ev.exit_status = WEXITSTATUS(status);
	} else {
		ev.exit_status = -1;
		ev.signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
	}
	if (g.vm.state == VM_STARTING)
		ev.reason = QB_VMM_EXIT_START_FAILED;
	else if (g.vm.killed)
		ev.reason = QB_VMM_EXIT_KILLED;
	else if (!g.vm.got_shutdown)
		ev.reason = QB_VMM_EXIT_CRASHED;
	else if (strcmp(g.vm.shutdown_reason, "guest-shutdown") == 0)
		ev.reason = QB_VMM_EXIT_GUEST_SHUTDOWN;
	else if (strcmp(g.vm.shutdown_reason, "guest-reset") == 0)
		ev.reason = QB_VMM_EXIT_GUEST_RESET;
	else if (strcmp(g.vm.shutdown_reason, "guest-panic") == 0)
		ev.reason = QB_VMM_EXIT_GUEST_PANIC;
	else if (strncmp(g.vm.shutdown_reason, "host-", 5) == 0)
		ev.reason = QB_VMM_EXIT_HOST_REQUEST;
	snprintf(ev.detail, sizeof(ev.detail), "%s",
	    g.vm.killed && g.vm.kill_why ? g.vm.kill_why
	    : g.vm.got_shutdown          ? g.vm.shutdown_reason
	                                 : "no SHUTDOWN event");
	log_info("%s: QEMU %d exited status %d signal %d reason %u (%s)",
	    __func__, (int)g.vm.pid, ev.exit_status, ev.signal, ev.reason,
	    ev.detail);

	if (g.vm.state == VM_STARTING) {
		if (g.err_tail[0] != '\0' && !g.vm.killed)
			snprintf(
			    ev.detail, sizeof(ev.detail), "%.127s", g.err_tail);
		send_error(g.vm.start_peerid, IMSG_VMM_START_REQ, 0,
		    QB_E_INTERNAL,
		    "QEMU exited during start (status %d signal %d)%s%s",
		    ev.exit_status, ev.signal, g.err_tail[0] ? ": " : "",
		    g.err_tail);
	}
	g.vm.state = VM_EXITED;
	if (g.vm.unplug.r != NULL) {
		struct req *r = g.vm.unplug.r;

		g.vm.unplug.r = NULL;
		req_fail(r, QB_E_UNAVAILABLE, "the VM is gone");
	}
	/* Pending QMP commands fail with "closed" and answer their requests. */
	qmp_free(g.vm.qmp);
	g.vm.qmp = NULL;
	send_msg(IMSG_VMM_EXIT_EVT, 0, &ev, sizeof(ev));
	if (g.vm.sd_reply) {
		send_msg(IMSG_VMM_SHUTDOWN_RES, g.vm.sd_peerid, NULL, 0);
		g.vm.sd_reply = false;
	}
	if (g.vm.pidfd != -1)
		close(g.vm.pidfd);
	g.vm.pidfd = -1;
	if (g.vm.con_fd != -1)
		close(g.vm.con_fd);
	g.vm.con_fd = -1;
	if (g.vm.log_fd != -1)
		close(g.vm.log_fd);
	g.vm.log_fd = -1;
}

/* ---- console relay ---- */

static void
console_read(void)
{
	static const char marker[] =
	    "\n[qemubox: console.log size cap reached, output dropped]\n";
	char buf[16384];
	ssize_t n, w;
	size_t len, off;

	n = read(g.vm.con_fd, buf, sizeof(buf));
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		close(g.vm.con_fd);
		g.vm.con_fd = -1;
		return;
	}
	/* Keep draining past the cap so a chatty guest never blocks. */
	if (g.vm.log_fd == -1 || g.vm.log_truncated)
		return;
	len = (size_t)n;
	if (g.vm.log_written + len > g.vm.log_max)
		len = (size_t)(g.vm.log_max - g.vm.log_written);
	for (off = 0; off < len; off += (size_t)w) {
		w = write(g.vm.log_fd, buf + off, len - off);
		if (w == -1) {
			if (errno == EINTR) {
				w = 0;
				continue;
			}
			log_warn("%s: console.log", __func__);
			close(g.vm.log_fd);
			g.vm.log_fd = -1;
			return;
		}
	}
	g.vm.log_written += len;
	if (len < (size_t)n) {
		g.vm.log_truncated = true;
		if (write(g.vm.log_fd, marker, sizeof(marker) - 1) < 0)
			log_warn("%s: console.log", __func__);
		send_guest_evt(QB_VMM_GUEST_EVT_CONSOLE_TRUNCATED, "");
	}
}

/* ---- QEMU's stderr ---- */

/*
 * Relayed to our stderr (the shim's log) and its last line kept, so a QEMU
 * that fails to start is quoted in the START error. Bytes read, 0 at EOF.
 */
static ssize_t
qemu_stderr_read(void)
{
	char buf[4096], *start, *nl;
	ssize_t n;
	size_t len;

	n = read(g.err_fd, buf, sizeof(buf) - 1);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return -1;
	if (n <= 0) {
		close(g.err_fd);
		g.err_fd = -1;
		return 0;
	}
	if (write(STDERR_FILENO, buf, (size_t)n) < 0) {
		/* the log is best effort */
	}
	buf[n] = '\0';
	/* The last non-empty line, printable bytes only. */
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	if (n == 0)
		return 1;
	start = buf;
	if ((nl = strrchr(buf, '\n')) != NULL)
		start = nl + 1;
	for (len = 0; start[len] != '\0'; len++)
		if ((unsigned char)start[len] < 0x20 ||
		    (unsigned char)start[len] > 0x7e)
			start[len] = '?';
	snprintf(g.err_tail, sizeof(g.err_tail), "%.255s", start);
	return 1;
}

/* ---- KVM probe ---- */

static void
probe_finish(int result)
{
	int status;

	if (g.probe_pid > 0) {
		kill(g.probe_pid, SIGKILL);
		waitpid(g.probe_pid, &status, 0);
		g.probe_pid = -1;
	}
	if (g.probe_fd != -1)
		close(g.probe_fd);
	g.probe_fd = -1;
	g.kvm_ok = result;
	log_info("%s: KVM %s", __func__, result ? "usable" : "not usable, TCG");
	if (g.start_deferred) {
		struct qb_error err = {0};

		g.start_deferred = false;
		if (vm_start(&g.start_req, g.start_peerid, &err) == -1) {
			staged_reset();
			send_error(g.start_peerid, IMSG_VMM_START_REQ, 0,
			    err.code, "start: %s", err.msg);
		}
	}
}

static void
probe_start(void)
{
	int p[2];

	g.probe_pid = -1;
	g.probe_fd = -1;
	g.kvm_ok = 0;
	if (!g.jailed.have_kvm_node)
		return;
	if (pipe2(p, O_CLOEXEC) == -1)
		return;
	switch ((g.probe_pid = fork())) {
	case -1:
		close(p[0]);
		close(p[1]);
		return;
	case 0:
		close(p[0]);
		vmmon_kvm_probe_child(p[1]);
	}
	close(p[1]);
	g.probe_fd = p[0];
	g.probe_deadline = qmp_now_ms() + KVM_PROBE_TIMEOUT_MS;
	g.kvm_ok = -1;
}

/* ---- main loop ---- */

static void
teardown_and_exit(int code)
{
	int status;

	/* No QEMU outlives its monitor. */
	if (g.vm.pid > 0 &&
	    (g.vm.state == VM_STARTING || g.vm.state == VM_RUNNING)) {
		kill(g.vm.pid, SIGKILL);
		waitpid(g.vm.pid, &status, 0);
	}
	if (g.launcher_pid > 0) {
		kill(g.launcher_pid, SIGKILL);
		waitpid(g.launcher_pid, &status, 0);
	}
	if (g.probe_pid > 0) {
		kill(g.probe_pid, SIGKILL);
		waitpid(g.probe_pid, &status, 0);
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
		pfd[P_IMSG].fd = g.ibuf.fd;
		if (msgbuf_queuelen(&g.ibuf.w) > 0)
			pfd[P_IMSG].events |= POLLOUT;
		now = qmp_now_ms();
		timeout = -1;
		if (g.vm.qmp != NULL) {
			pfd[P_QMP].fd = qmp_fd(g.vm.qmp);
			pfd[P_QMP].events = qmp_poll_events(g.vm.qmp);
			timeout = qmp_next_timeout(g.vm.qmp, now);
		}
		if (g.vm.state == VM_STARTING || g.vm.state == VM_RUNNING) {
			pfd[P_CON].fd = g.vm.con_fd;
			pfd[P_ERR].fd = g.err_fd;
			pfd[P_PID].fd = g.vm.pidfd;
			if (g.vm.state == VM_STARTING)
				timeout = min_timeout(timeout,
				    ms_until(g.vm.ready_deadline, now));
			timeout = min_timeout(
			    timeout, ms_until(g.vm.sd_deadline, now));
			if (g.vm.unplug.r != NULL)
				timeout = min_timeout(timeout,
				    ms_until(g.vm.unplug.deadline, now));
			if (g.vm.pidfd == -1)
				timeout = min_timeout(timeout, 200);
		}
		if (g.probe_fd != -1) {
			pfd[P_PROBE].fd = g.probe_fd;
			timeout = min_timeout(
			    timeout, ms_until(g.probe_deadline, now));
		}

		if (poll(pfd, P_N, timeout) == -1) {
			if (errno == EINTR)
				continue;
			fatal("poll");
		}
		now = qmp_now_ms();

		if (pfd[P_IMSG].revents & POLLOUT) {
			if (msgbuf_write(&g.ibuf.w) == -1 && errno != EAGAIN)
				teardown_and_exit(0);
		}
		if (pfd[P_IMSG].revents & (POLLIN | POLLHUP | POLLERR)) {
			n = imsg_read(&g.ibuf);
			if ((n == -1 && errno != EAGAIN) || n == 0) {
				log_info("shim closed the channel: stopping");
				teardown_and_exit(0);
			}
			for (;;) {
				if ((n = imsg_get(&g.ibuf, &imsg)) == -1)
					fatal_peer("imsg_get", 0);
				if (n == 0)
					break;
				vmmon_dispatch_shim(&imsg);
				imsg_free(&imsg);
			}
		}
		if (g.probe_fd != -1) {
			char c = '0';

			if (pfd[P_PROBE].revents & (POLLIN | POLLHUP)) {
				if (read(g.probe_fd, &c, 1) != 1)
					c = '0';
				probe_finish(c == '1');
			} else if (now >= g.probe_deadline)
				probe_finish(0);
		}
		if (g.vm.qmp != NULL && pfd[P_QMP].revents) {
			if (qmp_dispatch(g.vm.qmp, pfd[P_QMP].revents) == -1) {
				if (errno == EBADMSG)
					log_warnx("QMP protocol violation: "
					          "killing the VM");
				/* Without QMP the VM cannot be managed. */
				if (errno == EBADMSG)
					vm_kill("QMP protocol violation");
				else if (!g.vm.got_shutdown && g.vm.pid > 0)
					/* QMP gone without a SHUTDOWN: crashed
					 * or about to; never leave it
					 * unmanaged. */
					kill(g.vm.pid, SIGKILL);
				qmp_free(g.vm.qmp);
				g.vm.qmp = NULL;
				g.vm.qmp_ready = false;
			}
		}
		if (g.vm.qmp != NULL)
			qmp_expire(g.vm.qmp, now);
		if (g.vm.state == VM_STARTING || g.vm.state == VM_RUNNING) {
			if (g.vm.con_fd != -1 &&
			    (pfd[P_CON].revents & (POLLIN | POLLHUP)))
				console_read();
			if (g.err_fd != -1 &&
			    (pfd[P_ERR].revents & (POLLIN | POLLHUP)))
				qemu_stderr_read();
			if (g.vm.state == VM_STARTING &&
			    now >= g.vm.ready_deadline) {
				log_warnx("QMP not ready in time: killing");
				vm_kill("QMP not ready in time");
				g.vm.ready_deadline = 0;
			}
			if (g.vm.sd_deadline != 0 && now >= g.vm.sd_deadline)
				sd_advance();
			if (g.vm.unplug.r != NULL &&
			    now >= g.vm.unplug.deadline)
				unplug_done(false, "timed out");
			if (g.vm.pidfd == -1 || (pfd[P_PID].revents & POLLIN)) {
				pid_t w = waitpid(g.vm.pid, &status, WNOHANG);

				if (w == g.vm.pid) {
					while (g.err_fd != -1 &&
					       poll(&(struct pollfd){g.err_fd,
					                POLLIN, 0},
					           1, 0) == 1 &&
					       qemu_stderr_read() > 0)
						;
					/* Drain the console's last words. */
					while (
					    g.vm.con_fd != -1 &&
					    poll(&(struct pollfd){g.vm.con_fd,
					             POLLIN, 0},
					        1, 0) == 1)
						console_read();
					vm_exited(status);
				}
			}
		}
		if (msgbuf_queuelen(&g.ibuf.w) > 0 &&
		    msgbuf_write(&g.ibuf.w) == -1 && errno != EAGAIN &&
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
	g.user = cfg.security.vmmon_user;
	g.qemu_path = cfg.paths.qemu_path;
	g.share_path = cfg.paths.qemu_share_path;
	g.shutdown_timeout_ms = cfg.runtime.shutdown_timeout_ms;
	g.seccomp_mode = cfg.security.seccomp;
	debug = cfg.runtime.debug;
	while ((ch = getopt(argc, argv, "dSu:q:s:t:")) != -1) {
		switch (ch) {
		case 'd':
			debug = 1;
			break;
		case 'S':
			g.seccomp_mode = QB_SECCOMP_LOG;
			break;
		case 'u':
			g.user = optarg;
			break;
		case 'q':
			g.qemu_path = optarg;
			break;
		case 's':
			g.share_path = optarg;
			break;
		case 't':
			g.shutdown_timeout_ms = strtoull(optarg, NULL, 10);
			if (g.shutdown_timeout_ms == 0 ||
			    g.shutdown_timeout_ms > 600000)
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

	j.user = g.user;
	j.qemu_path = g.qemu_path;
	j.qemu_share_path = g.share_path;
	vmmon_priv_drop(&j, &g.jailed);

	memset(&g.st, 0xff, sizeof(g.st)); /* every staged fd -1 */
	probe_start();

	/* QEMU's QMP and console sockets exist before the launcher does. */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) == -1)
		fatal("socketpair qmp");
	g.qmp_fd = sp[0];
	keep[0] = sp[1];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) == -1)
		fatal("socketpair console");
	g.con_fd = sp[0];
	keep[1] = sp[1];
	if (fcntl(g.con_fd, F_SETFL, O_NONBLOCK) == -1)
		fatal("console nonblock");
	if (pipe2(errp, O_CLOEXEC) == -1)
		fatal("pipe");
	g.err_fd = errp[0];
	if (fcntl(g.err_fd, F_SETFL, O_NONBLOCK) == -1)
		fatal("stderr nonblock");
	g.launcher_pid =
	    launcher_fork(keep, 2, errp[1], g.seccomp_mode, &g.launcher_sock);
	if (g.launcher_pid == -1)
		fatal("fork launcher");
	close(keep[0]);
	close(keep[1]);
	close(errp[1]);

	if (seccomp_apply_vmmon(g.seccomp_mode) == -1)
		fatal("seccomp");

	imsg_init(&g.ibuf, PROC_SPAWN_IMSG_FD);
	if (fcntl(PROC_SPAWN_IMSG_FD, F_SETFL, O_NONBLOCK) == -1)
		fatal("imsg nonblock");
	g.vm.pidfd = g.vm.con_fd = g.vm.log_fd = -1;
	loop();
	return 0;
}
