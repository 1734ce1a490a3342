/*
 * vminitd's guest API server (guest/agent.h).
 *
 * One evloop: the host channel, PID 1's signalfd (SIGCHLD -> exits), the
 * stdio pumps and timers. Handlers run crun synchronously (it returns in
 * well under a second); everything else is non-blocking.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "guest/agent.h"
#include "guest/agent_rootfs.h"
#include "guest/agent_stats.h"
#include "guest/agent_vmstats.h"
#include "guest/crun.h"
#include "guest/net_config.h"
#include "guest/pid1.h"
#include "lib/chan.h"
#include "lib/chan_pump.h"
#include "lib/chan_rpc.h"
#include "lib/error.h"
#include "lib/evloop.h"
#include "lib/log.h"
#include "proto/guest.pb-c.h"

#define AGENT_STATE_DIR "/run/qemubox/ctr"
#define AGENT_ID_MAX    64
#define AGENT_MAX_FILES 16
#define AGENT_UNCLAIMED 64
/* After a process exits, how often we look whether its output is done. */
#define DRAIN_TICK_NS (200ull * 1000 * 1000)

enum proc_state { P_CREATED, P_RUNNING, P_STOPPED };

struct ctr;

struct proc {
	struct ctr *c;
	struct proc *next;
	char exec_id[AGENT_ID_MAX + 1]; /* "" = init */
	pid_t pid;
	enum proc_state state;
	int exit_status;
	bool reported;
	bool terminal;
	uint32_t sid[3];
	struct chan_pump *in, *out, *err;
	int pty; /* terminal: the pty master, for ResizePty; else -1 */
	uint8_t *process_json; /* exec, until started */
	size_t process_len;
	struct ev_timer *drain;
};

struct agent;

struct ctr {
	struct agent *a;
	struct ctr *next;
	char id[AGENT_ID_MAX + 1];
	char dir[128]; /* AGENT_STATE_DIR/<id> */
	size_t nlayers;
	bool paused;
	int oom_wd;         /* inotify watch on memory.events, -1 if none */
	char oom_path[256]; /* that memory.events: kept after the init died */
	uint64_t oom_kills;
	struct proc *procs; /* init first */
};

struct agent {
	struct pid1_info *info;
	struct evloop *loop;
	struct chan *ch;
	int chan_fd;
	struct ev_io *chan_io;
	struct ev_io *sig_io;
	int ino_fd; /* inotify: memory.events of every container (OOM) */
	struct ev_io *ino_io;
	struct ctr *ctrs;
	bool host_seen;
	bool stopping;
	int rc;
	struct {
		pid_t pid;
		int status;
	} unclaimed[AGENT_UNCLAIMED];
	size_t nunclaimed;
};

typedef int (*handler_fn)(struct agent *, const uint8_t *, size_t,
    ProtobufCMessage **, struct qb_error *);

/* ---- helpers ---- */

static int
valid_id(const char *id)
{
	size_t i, n = strlen(id);

	if (n == 0 || n > AGENT_ID_MAX || !isalnum((unsigned char)id[0]))
		return 0;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)id[i]) &&
		    strchr("_.-", id[i]) == NULL)
			return 0;
	return 1;
}

static int
wstatus_code(int ws)
{
	if (WIFEXITED(ws))
		return WEXITSTATUS(ws);
	if (WIFSIGNALED(ws))
		return 128 + WTERMSIG(ws);
	return 255;
}

static struct ctr *
ctr_find(struct agent *a, const char *id)
{
	struct ctr *c = NULL;

	for (c = a->ctrs; c != NULL; c = c->next)
		if (strcmp(c->id, id) == 0)
			return c;
	return NULL;
}

static struct proc *
proc_find(struct ctr *c, const char *exec_id)
{
	struct proc *p;

	for (p = c->procs; p != NULL; p = p->next)
		if (strcmp(p->exec_id, exec_id) == 0)
			return p;
	return NULL;
}

static int
lookup(struct agent *a, const char *id, const char *exec_id, struct ctr **cp,
    struct proc **pp, struct qb_error *err)
{
	struct ctr *c = NULL;
	struct proc *p = NULL;

	if ((c = ctr_find(a, id)) == NULL)
		return qb_seterr(
		    err, QB_E_NOTFOUND, "container %s not created", id);
	if (pp != NULL &&
	    (p = proc_find(c, exec_id != NULL ? exec_id : "")) == NULL)
		return qb_seterr(
		    err, QB_E_NOTFOUND, "process %s does not exist", exec_id);
	*cp = c;
	if (pp != NULL)
		*pp = p;
	return 0;
}

/* Streams the host names must be free on the channel and distinct. */
static int
check_stdio(
    struct agent *a, const Qemubox__Guest__V1__Stdio *io, struct qb_error *err)
{
	uint32_t ids[3];
	int i, j;

	if (io == NULL)
		return 0;
	ids[0] = io->stdin;
	ids[1] = io->stdout;
	ids[2] = io->stderr;
	if (io->terminal && io->stderr != 0)
		return qb_seterr(
		    err, QB_E_INVALID, "terminal: stderr travels on stdout");
	for (i = 0; i < 3; i++) {
		if (ids[i] == 0)
			continue;
		if (chan_stream_find(a->ch, ids[i]) != NULL)
			return qb_seterr(
			    err, QB_E_EXISTS, "stream %u in use", ids[i]);
		for (j = 0; j < i; j++)
			if (ids[j] == ids[i])
				return qb_seterr(err, QB_E_INVALID,
				    "stream %u named twice", ids[i]);
	}
	return 0;
}

/* ---- exits ---- */

static void
send_exit(struct agent *a, struct proc *p)
{
	Qemubox__Guest__V1__Event ev;
	Qemubox__Guest__V1__ExitEvent ex;
	uint8_t *buf;
	size_t n;

	qemubox__guest__v1__event__init(&ev);
	qemubox__guest__v1__exit_event__init(&ex);
	ex.id = p->c->id;
	ex.exec_id = p->exec_id;
	ex.pid = (uint32_t)p->pid;
	ex.exit_status = (uint32_t)p->exit_status;
	ev.kind_case = QEMUBOX__GUEST__V1__EVENT__KIND_EXIT;
	ev.exit = &ex;
	n = qemubox__guest__v1__event__get_packed_size(&ev);
	if ((buf = malloc(n)) == NULL) {
		log_warn("%s", __func__);
		return;
	}
	qemubox__guest__v1__event__pack(&ev, buf);
	if (chan_send_frame(a->ch, CHAN_T_EVENT, 0, 0, buf, n) == -1)
		log_warn("%s: %s/%s", __func__, p->c->id, p->exec_id);
	free(buf);
	log_debug("%s: %s exec=%s pid=%d status=%d", __func__, p->c->id,
	    p->exec_id, p->pid, p->exit_status);
}

static void maybe_report(struct agent *, struct proc *);

static void
drain_tick(struct ev_timer *t, void *arg)
{
	struct proc *p = arg;

	(void)t;
	chan_pump_finish_when_empty(p->out);
	chan_pump_finish_when_empty(p->err);
	maybe_report(p->c->a, p);
}

/*
 * The exit event goes out only after the process's output streams were
 * closed (their CLOSE frames are queued before it), so the host sees all
 * output before the exit.
 */
static void
maybe_report(struct agent *a, struct proc *p)
{
	if (p->reported || p->state != P_STOPPED)
		return;
	if (!chan_pump_done(p->out) || !chan_pump_done(p->err)) {
		if (p->drain == NULL)
			p->drain = evloop_timer_add(a->loop, DRAIN_TICK_NS,
			    DRAIN_TICK_NS, drain_tick, p);
		return;
	}
	if (p->drain != NULL) {
		evloop_timer_del(p->drain);
		p->drain = NULL;
	}
	p->reported = true;
	send_exit(a, p);
}

static void
pump_eof(struct chan_pump *pump, void *arg)
{
	struct proc *p = arg;

	(void)pump;
	maybe_report(p->c->a, p);
}

static void
proc_exited(struct proc *p, int ws)
{
	p->state = P_STOPPED;
	p->exit_status = wstatus_code(ws);
	/* stdin of a dead process: nobody will read it. */
	chan_pump_free(p->in);
	p->in = NULL;
	maybe_report(p->c->a, p);
}

static struct proc *
proc_by_pid(struct agent *a, pid_t pid)
{
	struct ctr *c = NULL;
	struct proc *p;

	for (c = a->ctrs; c != NULL; c = c->next)
		for (p = c->procs; p != NULL; p = p->next)
			if (p->pid == pid && p->state != P_STOPPED)
				return p;
	return NULL;
}

static void
on_child_exit(pid_t pid, int ws, void *arg)
{
	struct agent *a = arg;
	struct proc *p;

	if ((p = proc_by_pid(a, pid)) != NULL) {
		proc_exited(p, ws);
		return;
	}
	/* Not known yet (or a stray grandchild): keep it in case it is. */
	if (a->nunclaimed == AGENT_UNCLAIMED) {
		memmove(&a->unclaimed[0], &a->unclaimed[1],
		    sizeof(a->unclaimed[0]) * (AGENT_UNCLAIMED - 1));
		a->nunclaimed--;
	}
	a->unclaimed[a->nunclaimed].pid = pid;
	a->unclaimed[a->nunclaimed].status = ws;
	a->nunclaimed++;
}

static void
proc_set_pid(struct agent *a, struct proc *p, pid_t pid)
{
	size_t i;

	p->pid = pid;
	for (i = 0; i < a->nunclaimed; i++) {
		if (a->unclaimed[i].pid == pid) {
			int ws = a->unclaimed[i].status;

			a->unclaimed[i] = a->unclaimed[--a->nunclaimed];
			proc_exited(p, ws);
			return;
		}
	}
}

static void
proc_free(struct proc *p)
{
	chan_pump_free(p->in);
	chan_pump_free(p->out);
	chan_pump_free(p->err);
	evloop_timer_del(p->drain);
	if (p->pty >= 0)
		close(p->pty);
	free(p->process_json);
	free(p);
}

static void
proc_unlink(struct ctr *c, struct proc *p)
{
	struct proc **pp;

	for (pp = &c->procs; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == p) {
			*pp = p->next;
			return;
		}
	}
}

static struct proc *
proc_new(
    struct ctr *c, const char *exec_id, const Qemubox__Guest__V1__Stdio *io)
{
	struct proc *p;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	p->c = c;
	p->pty = -1;
	snprintf(p->exec_id, sizeof(p->exec_id), "%s", exec_id);
	if (io != NULL) {
		p->sid[0] = io->stdin;
		p->sid[1] = io->stdout;
		p->sid[2] = io->stderr;
		p->terminal = io->terminal;
	}
	return p;
}

/* ---- stdio ---- */

/*
 * Pipes for a process about to be started: child ends in child[] (-1 for
 * /dev/null), ours in ours[]. Ours are close-on-exec so crun and the
 * container never hold them: EOF then means the container's side closed.
 */
static int
stdio_pipes(const struct proc *p, int child[3], int ours[3])
{
	int i, fds[2];

	for (i = 0; i < 3; i++)
		child[i] = ours[i] = -1;
	for (i = 0; i < 3; i++) {
		if (p->sid[i] == 0)
			continue;
		if (pipe2(fds, O_CLOEXEC) == -1)
			goto fail;
		/* stdin: the child reads fds[0]; outputs: the child writes
		 * fds[1]. */
		child[i] = i == 0 ? fds[0] : fds[1];
		ours[i] = i == 0 ? fds[1] : fds[0];
	}
	return 0;
fail:
	for (i = 0; i < 3; i++) {
		if (child[i] >= 0)
			close(child[i]);
		if (ours[i] >= 0)
			close(ours[i]);
	}
	return -1;
}

/*
 * After crun (--console-socket) returned: the pty master carries the
 * terminal's output (stdout stream) and input (stdin stream).
 */
static int
tty_fds(struct proc *p, int lfd, int ours[3])
{
	int m;

	if ((m = crun_console_recv(lfd)) == -1)
		return -1;
	p->pty = dup(m);
	ours[0] = p->sid[0] != 0 ? dup(m) : -1;
	ours[1] = m;
	ours[2] = -1;
	if (p->pty == -1 || (p->sid[0] != 0 && ours[0] == -1))
		return -1;
	return 0;
}

static void
close_fds(int fds[3])
{
	int i;

	for (i = 0; i < 3; i++) {
		if (fds[i] >= 0)
			close(fds[i]);
		fds[i] = -1;
	}
}

static int
attach_pumps(struct agent *a, struct proc *p, int ours[3], struct qb_error *err)
{
	if (ours[0] >= 0) {
		p->in = chan_pump_to_fd(
		    a->loop, a->ch, p->sid[0], ours[0], NULL, NULL);
		ours[0] = -1;
		if (p->in == NULL)
			goto fail;
	}
	if (ours[1] >= 0) {
		p->out = chan_pump_from_fd(
		    a->loop, a->ch, p->sid[1], ours[1], false, pump_eof, p);
		ours[1] = -1;
		if (p->out == NULL)
			goto fail;
	}
	if (ours[2] >= 0) {
		p->err = chan_pump_from_fd(
		    a->loop, a->ch, p->sid[2], ours[2], false, pump_eof, p);
		ours[2] = -1;
		if (p->err == NULL)
			goto fail;
	}
	return 0;
fail:
	close_fds(ours);
	return qb_seterr(
	    err, QB_E_INTERNAL, "stdio streams: %s", strerror(errno));
}

/* ---- handlers ---- */

static int
h_ping(struct agent *a, const uint8_t *b, size_t n, ProtobufCMessage **out,
    struct qb_error *err)
{
	Qemubox__Guest__V1__PingRequest *req;
	Qemubox__Guest__V1__PingResponse *resp;
	struct timespec ts;

	(void)a;
	if ((req = qemubox__guest__v1__ping_request__unpack(NULL, n, b)) ==
	    NULL)
		return qb_seterr(err, QB_E_INVALID, "bad PingRequest");
	resp = malloc(sizeof(*resp));
	qemubox__guest__v1__ping_response__init(resp);
	resp->nonce = req->nonce;
	clock_gettime(CLOCK_BOOTTIME, &ts);
	resp->uptime_ms =
	    (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	qemubox__guest__v1__ping_request__free_unpacked(req, NULL);
	*out = &resp->base;
	return 0;
}

static int
write_small_file(const char *path, const uint8_t *data, size_t n, mode_t mode)
{
	int fd;
	ssize_t w;
	size_t off = 0;

	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	         mode & 07777)) == -1)
		return -1;
	while (off < n) {
		w = write(fd, data + off, n - off);
		if (w == -1 && errno == EINTR)
			continue;
		if (w == -1) {
			close(fd);
			return -1;
		}
		off += (size_t)w;
	}
	return close(fd);
}

static int ctr_cgroup(struct ctr *c, char *out, size_t outlen);

static uint64_t
read_oom_kills(const char *path)
{
	char line[128];
	unsigned long long v = 0;
	FILE *f;

	if ((f = fopen(path, "re")) == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "oom_kill %llu", &v) == 1)
			break;
	fclose(f);
	return v;
}

static void
send_oom(struct agent *a, struct ctr *c)
{
	Qemubox__Guest__V1__Event ev;
	Qemubox__Guest__V1__OomEvent oom;
	uint8_t buf[128];
	size_t n;

	qemubox__guest__v1__event__init(&ev);
	qemubox__guest__v1__oom_event__init(&oom);
	oom.id = c->id;
	ev.kind_case = QEMUBOX__GUEST__V1__EVENT__KIND_OOM;
	ev.oom = &oom;
	n = qemubox__guest__v1__event__pack(&ev, buf);
	if (chan_send_frame(a->ch, CHAN_T_EVENT, 0, 0, buf, n) == -1)
		log_warn("%s: %s", __func__, c->id);
}

/* The kernel's oom_kill counter of the container's cgroup grew: tell the host.
 */
static void
oom_watch(struct agent *a, struct ctr *c)
{
	char cg[PATH_MAX];

	c->oom_wd = -1;
	if (a->ino_fd < 0 || ctr_cgroup(c, cg, sizeof(cg)) == -1)
		return;
	if (snprintf(c->oom_path, sizeof(c->oom_path), "%s/memory.events",
	        cg) >= (int)sizeof(c->oom_path))
		return;
	c->oom_kills = read_oom_kills(c->oom_path);
	if ((c->oom_wd =
	            inotify_add_watch(a->ino_fd, c->oom_path, IN_MODIFY)) == -1)
		log_warn("%s: %s", __func__, c->oom_path);
}

static void
ino_io_cb(struct ev_io *io, int fd, unsigned events, void *arg)
{
	struct agent *a = arg;
	char buf[4096]
	    __attribute__((aligned(__alignof__(struct inotify_event))));
	const struct inotify_event *ie;
	struct ctr *c;
	ssize_t n, off;
	uint64_t k;

	(void)io;
	(void)events;
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		for (off = 0; off < n;
		     off += (ssize_t)(sizeof(*ie) + ie->len)) {
			ie = (const struct inotify_event *)(buf + off);
			for (c = a->ctrs; c != NULL; c = c->next) {
				if (c->oom_wd != ie->wd)
					continue;
				if ((k = read_oom_kills(c->oom_path)) >
				    c->oom_kills) {
					c->oom_kills = k;
					send_oom(a, c);
				}
			}
		}
	}
}

static void
ctr_free(struct agent *a, struct ctr *c)
{
	struct proc *p, *np;
	struct ctr **cp;
	char path[PATH_MAX];
	int i;

	if (c->oom_wd >= 0 && a->ino_fd >= 0)
		(void)inotify_rm_watch(a->ino_fd, c->oom_wd);
	for (p = c->procs; p != NULL; p = np) {
		np = p->next;
		proc_free(p);
	}
	rootfs_unmount(c->dir, c->nlayers);
	/* Best effort: the state dir holds only files we wrote. */
	for (i = 0; i < AGENT_MAX_FILES; i++) {
		snprintf(path, sizeof(path), "%s/files/%d", c->dir, i);
		(void)unlink(path);
	}
	snprintf(path, sizeof(path), "%s/files", c->dir);
	(void)rmdir(path);
	const char *names[] = {"config.json", "init.pid", "resources.json"};
	for (i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/%s", c->dir, names[i]);
		(void)unlink(path);
	}
	(void)rmdir(c->dir);
	for (cp = &a->ctrs; *cp != NULL; cp = &(*cp)->next) {
		if (*cp == c) {
			*cp = c->next;
			break;
		}
	}
	free(c);
}

static int
h_create(struct agent *a, const uint8_t *b, size_t n, ProtobufCMessage **out,
    struct qb_error *err)
{
	Qemubox__Guest__V1__CreateRequest *req;
	Qemubox__Guest__V1__CreateResponse *resp;
	struct rootfs_layer layers[128];
	struct bundle_file files[AGENT_MAX_FILES];
	char fpaths[AGENT_MAX_FILES][PATH_MAX], rootfs[PATH_MAX],
	    pidf[PATH_MAX];
	char sock[PATH_MAX];
	int child[3] = {-1, -1, -1}, ours[3] = {-1, -1, -1}, lfd = -1;
	struct ctr *c = NULL;
	struct proc *p = NULL;
	size_t i;
	pid_t pid;

	if ((req = qemubox__guest__v1__create_request__unpack(NULL, n, b)) ==
	    NULL)
		return qb_seterr(err, QB_E_INVALID, "bad CreateRequest");
	if (!valid_id(req->id)) {
		qb_seterr(err, QB_E_INVALID, "invalid container id");
		goto fail;
	}
	if (ctr_find(a, req->id) != NULL) {
		qb_seterr(err, QB_E_EXISTS, "container %s exists", req->id);
		goto fail;
	}
	if (req->n_layers > 128 || req->n_files > AGENT_MAX_FILES) {
		qb_seterr(err, QB_E_INVALID, "too many layers or files");
		goto fail;
	}
	if (check_stdio(a, req->stdio, err) == -1)
		goto fail;
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		qb_seterr(err, QB_E_INTERNAL, "out of memory");
		goto fail;
	}
	c->a = a;
	c->oom_wd = -1;
	snprintf(c->id, sizeof(c->id), "%s", req->id);
	snprintf(c->dir, sizeof(c->dir), "%s/%s", AGENT_STATE_DIR, req->id);
	c->nlayers = req->n_layers;
	if (mkdir(c->dir, 0711) == -1)
		goto fail_errno;
	c->next = a->ctrs;
	a->ctrs = c;

	for (i = 0; i < req->n_layers; i++) {
		layers[i].serial = req->layers[i]->serial;
		layers[i].fstype = req->layers[i]->fstype;
	}
	if (rootfs_mount(c->dir, layers, req->n_layers, req->scratch_serial,
	        req->tmpfs_size_mb, err) == -1)
		goto fail;
	if (req->n_files > 0) {
		snprintf(fpaths[0], sizeof(fpaths[0]), "%s/files", c->dir);
		if (mkdir(fpaths[0], 0755) == -1)
			goto fail_errno;
	}
	for (i = 0; i < req->n_files; i++) {
		const char *dest = req->files[i]->path;

		if (dest[0] != '/' || strstr(dest, "..") != NULL ||
		    strlen(dest) >= PATH_MAX) {
			qb_seterr(err, QB_E_INVALID, "file path %s", dest);
			goto fail;
		}
		snprintf(
		    fpaths[i], sizeof(fpaths[i]), "%s/files/%zu", c->dir, i);
		if (write_small_file(fpaths[i], req->files[i]->data.data,
		        req->files[i]->data.len,
		        req->files[i]->mode ? req->files[i]->mode : 0644) == -1)
			goto fail_errno;
		files[i].dest = dest;
		files[i].src = fpaths[i];
	}
	snprintf(rootfs, sizeof(rootfs), "%s/rootfs", c->dir);
	if (crun_write_bundle(c->dir, req->spec.data, req->spec.len, rootfs,
	        req->stdio != NULL && req->stdio->terminal, files, req->n_files,
	        err) == -1)
		goto fail;

	if ((p = proc_new(c, "", req->stdio)) == NULL)
		goto fail_errno;
	snprintf(sock, sizeof(sock), "%s/con.sock", c->dir);
	if (p->terminal) {
		if ((lfd = crun_console_listen(sock)) == -1)
			goto fail_errno;
	} else if (stdio_pipes(p, child, ours) == -1)
		goto fail_errno;
	snprintf(pidf, sizeof(pidf), "%s/init.pid", c->dir);
	const char *args[] = {"create", "--bundle", c->dir, "--pid-file", pidf,
	    c->id, NULL, NULL, NULL};
	if (p->terminal) {
		args[5] = "--console-socket";
		args[6] = sock;
		args[7] = c->id;
	}
	if (crun_cmd(args, child, err) == -1)
		goto fail;
	close_fds(child);
	if (p->terminal && tty_fds(p, lfd, ours) == -1) {
		qb_seterr(
		    err, QB_E_INTERNAL, "console socket: %s", strerror(errno));
		goto fail_delete;
	}
	if ((pid = crun_read_pid(pidf)) == -1) {
		qb_seterr(err, QB_E_INTERNAL, "crun wrote no pid");
		goto fail_delete;
	}
	p->pid = pid;
	c->procs = p;
	if (attach_pumps(a, p, ours, err) == -1) {
		c->procs = NULL;
		goto fail_delete;
	}
	proc_set_pid(a, p, pid);
	oom_watch(a, c);

	resp = malloc(sizeof(*resp));
	qemubox__guest__v1__create_response__init(resp);
	resp->pid = (uint32_t)pid;
	*out = &resp->base;
	if (lfd >= 0) {
		close(lfd);
		unlink(sock);
	}
	qemubox__guest__v1__create_request__free_unpacked(req, NULL);
	return 0;

fail_delete : {
	const char *dargs[] = {"delete", "--force", c->id, NULL};
	struct qb_error e2;

	(void)crun_cmd(dargs, NULL, &e2);
	goto fail;
}
fail_errno:
	qb_seterr(err, QB_E_INTERNAL, "create: %s", strerror(errno));
fail:
	close_fds(child);
	close_fds(ours);
	if (lfd >= 0) {
		close(lfd);
		unlink(sock);
	}
	if (p != NULL && c != NULL && c->procs != p)
		proc_free(p);
	if (c != NULL && ctr_find(a, c->id) == c)
		ctr_free(a, c);
	else
		free(c);
	qemubox__guest__v1__create_request__free_unpacked(req, NULL);
	return -1;
}

static int
start_exec(struct agent *a, struct ctr *c, struct proc *p, struct qb_error *err)
{
	char procf[PATH_MAX], pidf[PATH_MAX], sock[PATH_MAX];
	int child[3] = {-1, -1, -1}, ours[3] = {-1, -1, -1}, lfd = -1, rc = -1;
	pid_t pid;

	snprintf(procf, sizeof(procf), "%s/exec-%s.json", c->dir, p->exec_id);
	snprintf(pidf, sizeof(pidf), "%s/exec-%s.pid", c->dir, p->exec_id);
	snprintf(sock, sizeof(sock), "%s/con.sock", c->dir);
	if (crun_write_process(
	        procf, p->process_json, p->process_len, p->terminal, err) == -1)
		return -1;
	if (p->terminal) {
		if ((lfd = crun_console_listen(sock)) == -1) {
			qb_seterr(err, QB_E_INTERNAL, "console socket: %s",
			    strerror(errno));
			goto out;
		}
	} else if (stdio_pipes(p, child, ours) == -1) {
		qb_seterr(err, QB_E_INTERNAL, "pipe: %s", strerror(errno));
		goto out;
	}
	const char *args[] = {"exec", "--detach", "--pid-file", pidf,
	    "--process", procf, c->id, NULL, NULL, NULL};
	if (p->terminal) {
		args[6] = "--console-socket";
		args[7] = sock;
		args[8] = c->id;
	}
	if (crun_cmd(args, child, err) == -1)
		goto out;
	close_fds(child);
	pid = crun_read_pid(pidf);
	if (pid == -1) {
		qb_seterr(err, QB_E_INTERNAL, "crun wrote no pid");
		goto out;
	}
	p->state = P_RUNNING;
	p->pid = pid;
	if ((p->terminal && tty_fds(p, lfd, ours) == -1) ||
	    attach_pumps(a, p, ours, err) == -1) {
		if (err->code == 0)
			qb_seterr(
			    err, QB_E_INTERNAL, "console: %s", strerror(errno));
		kill(pid, SIGKILL);
		goto out;
	}
	proc_set_pid(a, p, pid);
	rc = 0;
out:
	close_fds(child);
	close_fds(ours);
	if (lfd >= 0) {
		close(lfd);
		unlink(sock);
	}
	unlink(procf);
	unlink(pidf);
	return rc;
}

static int
h_start(struct agent *a, const uint8_t *b, size_t n, ProtobufCMessage **out,
    struct qb_error *err)
{
	Qemubox__Guest__V1__StartRequest *req;
	Qemubox__Guest__V1__StartResponse *resp;
	struct ctr *c = NULL;
	struct proc *p;
	int rc = -1;

	if ((req = qemubox__guest__v1__start_request__unpack(NULL, n, b)) ==
	    NULL)
		return qb_seterr(err, QB_E_INVALID, "bad StartRequest");
	if (lookup(a, req->id, req->exec_id, &c, &p, err) == -1)
		goto out;
	if (p->state != P_CREATED) {
		qb_seterr(err, QB_E_PRECONDITION, "process already started");
		goto out;
	}
	if (p->exec_id[0] == '\0') {
		const char *args[] = {"start", c->id, NULL};

		if (crun_cmd(args, NULL, err) == -1)
			goto out;
		/* The init may already have exited and been reaped: keep that.
		 */
		if (p->state == P_CREATED)
			p->state = P_RUNNING;
	} else if (start_exec(a, c, p, err) == -1)
		goto out;
	resp = malloc(sizeof(*resp));
	qemubox__guest__v1__start_response__init(resp);
	resp->pid = (uint32_t)p->pid;
	*out = &resp->base;
	rc = 0;
out:
	qemubox__guest__v1__start_request__free_unpacked(req, NULL);
	return rc;
}

static int
h_exec(struct agent *a, const uint8_t *b, size_t n, ProtobufCMessage **out,
    struct qb_error *err)
{
	Qemubox__Guest__V1__ExecRequest *req;
	struct ctr *c = NULL;
	struct proc *p;
	int rc = -1;

	(void)out;
	if ((req = qemubox__guest__v1__exec_request__unpack(NULL, n, b)) ==
	    NULL)
		return qb_seterr(err, QB_E_INVALID, "bad ExecRequest");
	if (lookup(a, req->id, NULL, &c, NULL, err) == -1)
		goto out;
	if (!valid_id(req->exec_id)) {
		qb_seterr(err, QB_E_INVALID, "invalid exec id");
		goto out;
	}
	if (proc_find(c, req->exec_id) != NULL) {
		qb_seterr(err, QB_E_EXISTS, "exec %s exists", req->exec_id);
		goto out;
	}
	if (c->procs == NULL || c->procs->state != P_RUNNING) {
		qb_seterr(err, QB_E_PRECONDITION, "container %s is not running",
		    c->id);
		goto out;
	}
	if (check_stdio(a, req->stdio, err) == -1)
		goto out;
	if ((p = proc_new(c, req->exec_id, req->stdio)) == NULL ||
	    (p->process_json = malloc(req->process.len + 1)) == NULL) {
		free(p);
		qb_seterr(err, QB_E_INTERNAL, "out of memory");
		goto out;
	}
	memcpy(p->process_json, req->process.data, req->process.len);
	p->process_len = req->process.len;
	/* After init, so the list stays init first. */
	p->next = c->procs->next;
	c->procs->next = p;
	rc = 0;
out:
	qemubox__guest__v1__exec_request__free_unpacked(req, NULL);
	return rc;
}

static int
h_kill(struct agent *a, const uint8_t *b, size_t n, ProtobufCMessage **out,
    struct qb_error *err)
{
	Qemubox__Guest__V1__KillRequest *req;
	struct ctr *c = NULL;
	struct proc *p;
	char sig[16];
	int rc = -1;

	(void)out;
	if ((req = qemubox__guest__v1__kill_request__unpack(NULL, n, b)) ==
	    NULL)
		return qb_seterr(err, QB_E_INVALID, "bad KillRequest");
	if (lookup(a, req->id, req->exec_id, &c, &p, err) == -1)
		goto out;
	if (req->signal == 0 || req->signal >= 65) {
		qb_seterr(err, QB_E_INVALID, "signal %u", req->signal);
		goto out;
	}
	if (req->all && p->exec_id[0] == '\0') {
		const char *args[] = {"kill", "--all", c->id, sig, NULL};

		snprintf(sig, sizeof(sig), "%u", req->signal);
		rc = crun_cmd(args, NULL, err);
		goto out;
	}
	if (p->state == P_CREATED && p->exec_id[0] != '\0') {
		qb_seterr(err, QB_E_PRECONDITION, "process not started");
		goto out;
	}
	if (p->state == P_STOPPED || p->pid <= 1) {
		qb_seterr(err, QB_E_NOTFOUND, "process already finished");
		goto out;
	}
	if (kill(p->pid, (int)req->signal) == -1) {
		qb_seterr(err, errno == ESRCH ? QB_E_NOTFOUND : QB_E_INTERNAL,
		    "kill: %s", strerror(errno));
		goto out;
	}
	rc = 0;
out:
	qemubox__guest__v1__kill_request__free_unpacked(req, NULL);
	return rc;
}

static int
h_delete(struct agent *a, const uint8_t *b, size_t n, ProtobufCMessage **out,
    struct qb_error *err)
{
	Qemubox__Guest__V1__DeleteRequest *req;
	Qemubox__Guest__V1__DeleteResponse *resp;
	struct ctr *c = NULL;
	struct proc *p;
	int rc = -1;

	if ((req = qemubox__guest__v1__delete_request__unpack(NULL, n, b)) ==
	    NULL)
		return qb_seterr(err, QB_E_INVALID, "bad DeleteRequest");
	if (lookup(a, req->id, req->exec_id, &c, &p, err) == -1)
		goto out;
	if (p->state == P_RUNNING) {
		qb_seterr(err, QB_E_PRECONDITION, "process %s is running",
		    p->exec_id);
		goto out;
	}
	resp = malloc(sizeof(*resp));
	qemubox__guest__v1__delete_response__init(resp);
	resp->pid = (uint32_t)p->pid;
	resp->exit_status = (uint32_t)p->exit_status;
	if (p->exec_id[0] == '\0') {
		const char *args[] = {"delete", "--force", c->id, NULL};

		if (crun_cmd(args, NULL, err) == -1) {
			free(resp);
			goto out;
		}
		ctr_free(a, c);
	} else {
		proc_unlink(c, p);
		proc_free(p);
	}
	*out = &resp->base;
	rc = 0;
out:
	qemubox__guest__v1__delete_request__free_unpacked(req, NULL);
	return rc;
}

static int
h_state(struct agent *a, const uint8_t *b, size_t n, ProtobufCMessage **out,
    struct qb_error *err)
{
	Qemubox__Guest__V1__StateRequest *req;
	Qemubox__Guest__V1__StateResponse *resp;
	struct ctr *c = NULL;
	struct proc *p;
	int rc = -1;

	if ((req = qemubox__guest__v1__state_request__unpack(NULL, n, b)) ==
	    NULL)
		return qb_seterr(err, QB_E_INVALID, "bad StateRequest");
	if (lookup(a, req->id, req->exec_id, &c, &p, err) == -1)
		goto out;
	resp = malloc(sizeof(*resp));
	qemubox__guest__v1__state_response__init(resp);
	resp->id = strdup(c->id);
	resp->exec_id = strdup(p->exec_id);
	resp->pid = (uint32_t)(p->pid > 0 ? p->pid : 0);
	resp->exit_status = (uint32_t)p->exit_status;
	resp->terminal = p->terminal;
	switch (p->state) {
	case P_CREATED:
		resp->status = QEMUBOX__GUEST__V1__STATUS__CREATED;
		break;
	case P_RUNNING:
		resp->status = c->paused ? QEMUBOX__GUEST__V1__STATUS__PAUSED
		                         : QEMUBOX__GUEST__V1__STATUS__RUNNING;
		break;
	case P_STOPPED:
		resp->status = QEMUBOX__GUEST__V1__STATUS__STOPPED;
		break;
	}
	*out = &resp->base;
	rc = 0;
out:
	qemubox__guest__v1__state_request__free_unpacked(req, NULL);
	return rc;
}

/* The container's cgroup directory, from its init's /proc/PID/cgroup. */
static int
ctr_cgroup(struct ctr *c, char *out, size_t outlen)
{
	char path[64], line[1024];
	FILE *f;
	int rc = -1;

	if (c->procs == NULL || c->procs->pid <= 1 ||
	    c->procs->state == P_STOPPED) {
		errno = ESRCH;
		return -1;
	}
	snprintf(path, sizeof(path), "/proc/%d/cgroup", c->procs->pid);
	if ((f = fopen(path, "re")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "0::", 3) != 0)
			continue;
		line[strcspn(line, "\n")] = '\0';
		snprintf(out, outlen, "/sys/fs/cgroup%s", line + 3);
		rc = 0;
		break;
	}
	fclose(f);
	return rc;
}

static int
h_pids(struct agent *a, const uint8_t *b, size_t n, ProtobufCMessage **out,
    struct qb_error *err)
{
	Qemubox__Guest__V1__PidsRequest *req;
	Qemubox__Guest__V1__PidsResponse *resp = NULL;
	Qemubox__Guest__V1__ProcessInfo *pi;
	struct ctr *c = NULL;
	struct proc *p;
	char cg[PATH_MAX], path[PATH_MAX + 16];
	FILE *f = NULL;
	long v;
	size_t cap = 0;
	int rc = -1;

	if ((req = qemubox__guest__v1__pids_request__unpack(NULL, n, b)) ==
	    NULL)
		return qb_seterr(err, QB_E_INVALID, "bad PidsRequest");
	if (lookup(a, req->id, NULL, &c, NULL, err) == -1)
		goto out;
	resp = calloc(1, sizeof(*resp));
	qemubox__guest__v1__pids_response__init(resp);
	*out = &resp->base;
	rc = 0;
	if (ctr_cgroup(c, cg, sizeof(cg)) == -1)
		goto out; /* not running: no processes */
	snprintf(path, sizeof(path), "%s/cgroup.procs", cg);
	if ((f = fopen(path, "re")) == NULL)
		goto out;
	while (fscanf(f, "%ld", &v) == 1) {
		if (resp->n_processes == cap) {
			cap = cap ? cap * 2 : 16;
			resp->processes = realloc(
			    resp->processes, cap * sizeof(*resp->processes));
		}
		pi = malloc(sizeof(*pi));
		qemubox__guest__v1__process_info__init(pi);
		pi->pid = (uint32_t)v;
		for (p = c->procs; p != NULL; p = p->next)
			if (p->pid == v && p->exec_id[0] != '\0')
				pi->exec_id = strdup(p->exec_id);
		resp->processes[resp->n_processes++] = pi;
	}
	fclose(f);
out:
	qemubox__guest__v1__pids_request__free_unpacked(req, NULL);
	return rc;
}

static int
simple_crun(
    struct agent *a, const char *verb, const char *id, struct qb_error *err)
{
	struct ctr *c = NULL;
	const char *args[] = {verb, id, NULL};

	if (lookup(a, id, NULL, &c, NULL, err) == -1)
		return -1;
	if (crun_cmd(args, NULL, err) == -1)
		return -1;
	c->paused = strcmp(verb, "pause") == 0;
	return 0;
}

static int
h_pause(struct agent *a, const uint8_t *b, size_t n, ProtobufCMessage **out,
    struct qb_error *err)
{
	Qemubox__Guest__V1__PauseRequest *req;
	int rc;

	(void)out;
	if ((req = qemubox__guest__v1__pause_request__unpack(NULL, n, b)) ==
	    NULL)
		return qb_seterr(err, QB_E_INVALID, "bad PauseRequest");
	rc = simple_crun(a, "pause", req->id, err);
	qemubox__guest__v1__pause_request__free_unpacked(req, NULL);
	return rc;
}

static int
h_resume(struct agent *a, const uint8_t *b, size_t n, ProtobufCMessage **out,
    struct qb_error *err)
{
	Qemubox__Guest__V1__ResumeRequest *req;
	int rc;

	(void)out;
	if ((req = qemubox__guest__v1__resume_request__unpack(NULL, n, b)) ==
	    NULL)
		return qb_seterr(err, QB_E_INVALID, "bad ResumeRequest");
	rc = simple_crun(a, "resume", req->id, err);
	qemubox__guest__v1__resume_request__free_unpacked(req, NULL);
	return rc;
}

static int
h_update(struct agent *a, const uint8_t *b, size_t n, ProtobufCMessage **out,
    struct qb_error *err)
{
	Qemubox__Guest__V1__UpdateRequest *req;
	struct ctr *c = NULL;
	char path[PATH_MAX];
	int rc = -1;

	(void)out;
	if ((req = qemubox__guest__v1__update_request__unpack(NULL, n, b)) ==
	    NULL)
		return qb_seterr(err, QB_E_INVALID, "bad UpdateRequest");
	if (lookup(a, req->id, NULL, &c, NULL, err) == -1)
		goto out;
	snprintf(path, sizeof(path), "%s/resources.json", c->dir);
	if (write_small_file(
	        path, req->resources.data, req->resources.len, 0600) == -1) {
		qb_seterr(
		    err, QB_E_INTERNAL, "write resources: %s", strerror(errno));
		goto out;
	}
	const char *args[] = {"update", "--resources", path, c->id, NULL};
	rc = crun_cmd(args, NULL, err);
out:
	qemubox__guest__v1__update_request__free_unpacked(req, NULL);
	return rc;
}

/* Write "1"/"online" to every offline CPU or memory block. */
static unsigned
online_all(
    const char *dir, const char *prefix, const char *file, const char *value)
{
	char path[PATH_MAX], cur[32];
	unsigned count = 0;
	int i, fd;
	ssize_t r;

	for (i = 0; i < 4096; i++) {
		snprintf(
		    path, sizeof(path), "%s/%s%d/%s", dir, prefix, i, file);
		if ((fd = open(path, O_RDWR | O_CLOEXEC)) == -1) {
			if (errno == ENOENT && i > 0 &&
			    strcmp(prefix, "cpu") == 0)
				break;
			continue;
		}
		r = read(fd, cur, sizeof(cur) - 1);
		cur[r > 0 ? r : 0] = '\0';
		if (strncmp(cur, "1", 1) != 0 &&
		    strncmp(cur, "online", 6) != 0 &&
		    pwrite(fd, value, strlen(value), 0) > 0)
			count++;
		close(fd);
	}
	return count;
}

static int
h_online_cpus(struct agent *a, const uint8_t *b, size_t n,
    ProtobufCMessage **out, struct qb_error *err)
{
	Qemubox__Guest__V1__OnlineCpusResponse *resp;

	(void)a;
	(void)b;
	(void)n;
	(void)err;
	resp = malloc(sizeof(*resp));
	qemubox__guest__v1__online_cpus_response__init(resp);
	resp->online =
	    online_all("/sys/devices/system/cpu", "cpu", "online", "1");
	*out = &resp->base;
	return 0;
}

static int
h_online_memory(struct agent *a, const uint8_t *b, size_t n,
    ProtobufCMessage **out, struct qb_error *err)
{
	Qemubox__Guest__V1__OnlineMemoryResponse *resp;

	(void)a;
	(void)b;
	(void)n;
	(void)err;
	resp = malloc(sizeof(*resp));
	qemubox__guest__v1__online_memory_response__init(resp);
	resp->onlined_blocks = online_all(
	    "/sys/devices/system/memory", "memory", "state", "online");
	*out = &resp->base;
	return 0;
}

/* The whole guest's usage, for the host's hotplug controller. */
static int
h_vm_stats(struct agent *a, const uint8_t *b, size_t n, ProtobufCMessage **out,
    struct qb_error *err)
{
	Qemubox__Guest__V1__VmStatsResponse *resp;
	struct agent_vmstats vs;
	char cg[PATH_MAX];
	struct ctr *c;

	(void)b;
	(void)n;
	if (agent_vmstats_read("/proc", "/sys/devices/system/cpu", &vs) == -1)
		return qb_seterr(
		    err, QB_E_INTERNAL, "vm stats: %s", strerror(errno));
	for (c = a->ctrs; c != NULL; c = c->next)
		if (ctr_cgroup(c, cg, sizeof(cg)) == 0)
			agent_vmstats_add_throttled(cg, &vs);
	if ((resp = malloc(sizeof(*resp))) == NULL)
		return qb_seterr(err, QB_E_INTERNAL, "vm stats: out of memory");
	qemubox__guest__v1__vm_stats_response__init(resp);
	resp->cpu_busy_ticks = vs.cpu_busy_ticks;
	resp->cpu_total_ticks = vs.cpu_total_ticks;
	resp->cpus_online = vs.cpus_online;
	resp->mem_total_kb = vs.mem_total_kb;
	resp->mem_available_kb = vs.mem_available_kb;
	resp->throttled_usec = vs.throttled_usec;
	*out = &resp->base;
	return 0;
}

static int
h_shutdown(struct agent *a, const uint8_t *b, size_t n, ProtobufCMessage **out,
    struct qb_error *err)
{
	(void)b;
	(void)n;
	(void)out;
	(void)err;
	/* Stop once the answer is on the wire (see chan_want_write). */
	a->stopping = true;
	return 0;
}

/* The host sends the CNI result; guest/net_config.c applies it. */
static int
h_configure_network(struct agent *a, const uint8_t *b, size_t n,
    ProtobufCMessage **out, struct qb_error *err)
{
	Qemubox__Guest__V1__ConfigureNetworkRequest *req;
	int rc;

	(void)a;
	(void)out;
	req = qemubox__guest__v1__configure_network_request__unpack(NULL, n, b);
	if (req == NULL)
		return qb_seterr(
		    err, QB_E_INVALID, "bad ConfigureNetworkRequest");
	rc = net_config_apply(req, err);
	qemubox__guest__v1__configure_network_request__free_unpacked(req, NULL);
	return rc;
}

static int
h_stats(struct agent *a, const uint8_t *b, size_t n, ProtobufCMessage **out,
    struct qb_error *err)
{
	Qemubox__Guest__V1__StatsRequest *req;
	Qemubox__Guest__V1__StatsResponse *resp;
	struct ctr *c = NULL;
	char cg[PATH_MAX];
	uint8_t *buf;
	size_t len;
	int rc = -1;

	if ((req = qemubox__guest__v1__stats_request__unpack(NULL, n, b)) ==
	    NULL)
		return qb_seterr(err, QB_E_INVALID, "bad StatsRequest");
	if (lookup(a, req->id, NULL, &c, NULL, err) == -1)
		goto out;
	if (ctr_cgroup(c, cg, sizeof(cg)) == -1) {
		qb_seterr(
		    err, QB_E_NOTFOUND, "container %s is not running", c->id);
		goto out;
	}
	if (agent_cgroup_metrics(cg, &buf, &len) == -1) {
		qb_seterr(err, QB_E_INTERNAL, "stats: %s", strerror(errno));
		goto out;
	}
	resp = malloc(sizeof(*resp));
	qemubox__guest__v1__stats_response__init(resp);
	resp->metrics.data = buf;
	resp->metrics.len = len;
	*out = &resp->base;
	rc = 0;
out:
	qemubox__guest__v1__stats_request__free_unpacked(req, NULL);
	return rc;
}

static int
h_resize_pty(struct agent *a, const uint8_t *b, size_t n,
    ProtobufCMessage **out, struct qb_error *err)
{
	Qemubox__Guest__V1__ResizePtyRequest *req;
	struct ctr *c;
	struct proc *p;
	struct winsize ws;
	int rc = -1;

	(void)out;
	if ((req = qemubox__guest__v1__resize_pty_request__unpack(
	         NULL, n, b)) == NULL)
		return qb_seterr(err, QB_E_INVALID, "bad ResizePtyRequest");
	if (lookup(a, req->id, req->exec_id, &c, &p, err) == -1)
		goto out;
	if (p->pty < 0) {
		qb_seterr(err, QB_E_PRECONDITION, "process has no terminal");
		goto out;
	}
	memset(&ws, 0, sizeof(ws));
	ws.ws_col = (unsigned short)(req->width > 65535 ? 65535 : req->width);
	ws.ws_row = (unsigned short)(req->height > 65535 ? 65535 : req->height);
	if (ioctl(p->pty, TIOCSWINSZ, &ws) == -1) {
		qb_seterr(err, QB_E_INTERNAL, "resize: %s", strerror(errno));
		goto out;
	}
	rc = 0;
out:
	qemubox__guest__v1__resize_pty_request__free_unpacked(req, NULL);
	return rc;
}

static const struct {
	const char *method;
	handler_fn fn;
} handlers[] = {
    {"ConfigureNetwork", h_configure_network},
    {"ResizePty", h_resize_pty},
    {"Stats", h_stats},
    {"Ping", h_ping},
    {"Create", h_create},
    {"Start", h_start},
    {"Exec", h_exec},
    {"Kill", h_kill},
    {"Delete", h_delete},
    {"State", h_state},
    {"Pids", h_pids},
    {"Pause", h_pause},
    {"Resume", h_resume},
    {"Update", h_update},
    {"OnlineCpus", h_online_cpus},
    {"OnlineMemory", h_online_memory},
    {"VmStats", h_vm_stats},
    {"Shutdown", h_shutdown},
};

/* ---- channel ---- */

static void
maybe_stop(struct agent *a)
{
	if (a->stopping && chan_queued(a->ch) == 0)
		evloop_break(a->loop);
}

static void
on_request(struct chan *ch, uint32_t sid, const uint8_t *p, size_t n, void *arg)
{
	struct agent *a = arg;
	struct chan_rpc_req req;
	struct qb_error err = {0};
	ProtobufCMessage *resp = NULL;
	uint8_t *buf = NULL;
	size_t i, len = 0;
	int rc = -1;

	if (chan_rpc_req_decode(p, n, &req) == -1) {
		qb_seterr(&err, QB_E_INTERNAL, "undecodable request");
		goto reply;
	}
	if (req.service_len != strlen(GUEST_SERVICE) ||
	    memcmp(req.service, GUEST_SERVICE, req.service_len) != 0) {
		qb_seterr(&err, QB_E_UNIMPLEMENTED, "service %.*s",
		    (int)req.service_len, req.service ? req.service : "");
		goto reply;
	}
	for (i = 0; i < sizeof(handlers) / sizeof(handlers[0]); i++) {
		if (strlen(handlers[i].method) == req.method_len &&
		    memcmp(handlers[i].method, req.method, req.method_len) == 0)
			break;
	}
	if (i == sizeof(handlers) / sizeof(handlers[0])) {
		qb_seterr(&err, QB_E_UNIMPLEMENTED, "method %.*s",
		    (int)req.method_len, req.method ? req.method : "");
		goto reply;
	}
	log_debug("%s: %s", __func__, handlers[i].method);
	rc = handlers[i].fn(a, req.payload ? req.payload : (const uint8_t *)"",
	    req.payload_len, &resp, &err);
	if (rc == 0 && resp != NULL) {
		len = protobuf_c_message_get_packed_size(resp);
		if ((buf = malloc(len ? len : 1)) != NULL)
			protobuf_c_message_pack(resp, buf);
		protobuf_c_message_free_unpacked(resp, NULL);
		if (buf == NULL) {
			rc = -1;
			qb_seterr(&err, QB_E_INTERNAL, "out of memory");
		}
	}
	if (rc == -1)
		log_warnx("%s: %.*s: %s", __func__, (int)req.method_len,
		    req.method, err.msg);
reply:
	if (rc == -1 && err.code == 0)
		err.code = QB_E_UNKNOWN;
	if (chan_rpc_send_response(ch, sid, rc == 0 ? 0 : err.code,
	        rc == 0 ? NULL : err.msg, buf, len) == -1)
		log_warn("%s: respond", __func__);
	chan_rpc_req_free(&req);
	free(buf);
	maybe_stop(a);
}

static void
chan_want_write(struct chan *ch, int on, void *arg)
{
	struct agent *a = arg;

	(void)ch;
	if (a->chan_io != NULL)
		evloop_io_set(a->chan_io, EV_READ | (on ? EV_WRITE : 0));
}

static const struct chan_ops agent_chan_ops = {
    .on_request = on_request,
    .want_write = chan_want_write,
};

static void
chan_io_cb(struct ev_io *io, int fd, unsigned events, void *arg)
{
	struct agent *a = arg;
	struct timespec idle = {0, 20 * 1000000};

	(void)io;
	(void)fd;
	/*
	 * virtio-serial reports HUP and EOF while the host end is not
	 * connected yet; only after the host was seen do they mean it left.
	 */
	if (!a->host_seen && (events & EV_HUP) && !(events & EV_READ)) {
		nanosleep(&idle, NULL);
		return;
	}
	if (events & EV_WRITE) {
		if (chan_flush(a->ch) == -1)
			goto dead;
		if (chan_queued(a->ch) == 0)
			a->host_seen = true;
	}
	if (events & (EV_READ | EV_HUP)) {
		if (chan_read(a->ch) == -1) {
			if (errno == EPIPE && !a->host_seen) {
				/* Not connected yet: this EOF means nothing. */
				nanosleep(&idle, NULL);
				return;
			}
			goto dead;
		}
		a->host_seen = true;
	}
	maybe_stop(a);
	return;
dead:
	if (chan_failed(a->ch) && errno == EPROTO)
		log_warnx("%s: protocol error from the host", __func__);
	else
		log_info("%s: host channel closed", __func__);
	evloop_break(a->loop);
}

static void
sig_io_cb(struct ev_io *io, int fd, unsigned events, void *arg)
{
	struct agent *a = arg;

	(void)io;
	(void)fd;
	(void)events;
	if (pid1_signals(a->info, on_child_exit, a) == 1) {
		log_info("%s: shutdown signal", __func__);
		evloop_break(a->loop);
	}
}

static int
send_ready(struct agent *a)
{
	Qemubox__Guest__V1__Event ev;
	Qemubox__Guest__V1__ReadyEvent r;
	uint8_t buf[128];
	size_t n;

	qemubox__guest__v1__event__init(&ev);
	qemubox__guest__v1__ready_event__init(&r);
	r.boot_ms = a->info->ready_ms;
	r.version = (char *)(uintptr_t)QB_VERSION;
	ev.kind_case = QEMUBOX__GUEST__V1__EVENT__KIND_READY;
	ev.ready = &r;
	n = qemubox__guest__v1__event__pack(&ev, buf);
	return chan_send_frame(a->ch, CHAN_T_EVENT, 0, 0, buf, n);
}

int
agent_run(struct pid1_info *info)
{
	struct agent a;
	int fd;

	memset(&a, 0, sizeof(a));
	a.info = info;
	a.ino_fd = -1;
	fd = info->chan_fd;
	if (info->transport == PID1_TRANSPORT_VSOCK) {
		while ((fd = accept4(
		            info->chan_fd, NULL, NULL, SOCK_CLOEXEC)) == -1)
			if (errno != EINTR)
				return -1;
	}
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) == -1)
		return -1;
	a.chan_fd = fd;
	signal(SIGPIPE, SIG_IGN);
	/* crun.log and the per-container state dirs live here. */
	/*
	 * 0711: crun resolves the container's executable as the container's
	 * user through the rootfs path under here; search permission only.
	 */
	if ((mkdir("/run/qemubox", 0711) == -1 && errno != EEXIST) ||
	    (mkdir(AGENT_STATE_DIR, 0711) == -1 && errno != EEXIST))
		return -1;
	if ((a.loop = evloop_new()) == NULL)
		return -1;
	if ((a.ch = chan_new(fd, CHAN_GUEST, &agent_chan_ops, &a)) == NULL)
		goto fail;
	if ((a.chan_io = evloop_io_add(a.loop, fd, EV_READ, chan_io_cb, &a)) ==
	    NULL)
		goto fail;
	if ((a.sig_io = evloop_io_add(
	         a.loop, info->sig_fd, EV_READ, sig_io_cb, &a)) == NULL)
		goto fail;
	/* OOM reporting is best effort: serve without it if inotify fails. */
	if ((a.ino_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) == -1 ||
	    (a.ino_io = evloop_io_add(
	         a.loop, a.ino_fd, EV_READ, ino_io_cb, &a)) == NULL)
		log_warn("%s: inotify: no OOM events", __func__);
	if (send_ready(&a) == -1)
		goto fail;
	/* Written through already: the host end is connected (pid1_setup
	 * waits for it), so a later EOF means the host left. */
	if (chan_queued(a.ch) == 0)
		a.host_seen = true;
	log_info("%s: serving the guest API on %s", __func__, info->chan_path);
	if (evloop_run(a.loop) == -1)
		log_warn("%s: evloop", __func__);
	while (a.ctrs != NULL)
		ctr_free(&a, a.ctrs);
	chan_free(a.ch);
	evloop_free(a.loop);
	if (a.ino_fd >= 0)
		close(a.ino_fd);
	return 0;
fail:
	log_warn("%s", __func__);
	chan_free(a.ch);
	evloop_free(a.loop);
	if (a.ino_fd >= 0)
		close(a.ino_fd);
	return -1;
}
