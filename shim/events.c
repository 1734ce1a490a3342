#include <sys/queue.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/ttrpc.h"
#include "proto/events_task.pb-c.h"
#include "proto/events_ttrpc.pb-c.h"
#include "proto/google_protobuf.pb-c.h"
#include "shim/events.h"

#define EV_BACKOFF_MIN_MS     100
#define EV_BACKOFF_MAX_MS     5000
#define EV_FORWARD_TIMEOUT_NS (5ull * 1000 * 1000 * 1000)

struct event_item {
	STAILQ_ENTRY(event_item) entry;
	char *topic;
	char *type_url;
	uint8_t *data;
	size_t len;
	struct timespec at; /* when it happened, not when it got through */
	unsigned attempts;
};

struct events_pub {
	struct evloop *loop;
	char *ns, *ttrpc_address, *publish_binary, *grpc_address;
	STAILQ_HEAD(, event_item) q;
	size_t n;
	struct ttrpc_conn *conn;
	bool in_flight;
	struct ev_timer *retry;
	unsigned backoff_ms;
};

static char *
mut(const char *s)
{
	union {
		const char *c;
		char *m;
	} u = {.c = s};
	return u.m;
}

static char *
dup_or_null(const char *s)
{
	return s != NULL && s[0] != '\0' ? strdup(s) : NULL;
}

struct events_pub *
events_new(struct evloop *loop, const struct events_cfg *cfg)
{
	struct events_pub *p;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	p->loop = loop;
	p->ns = strdup(cfg->ns != NULL ? cfg->ns : "default");
	p->ttrpc_address = dup_or_null(cfg->ttrpc_address);
	p->publish_binary = dup_or_null(cfg->publish_binary);
	p->grpc_address = dup_or_null(cfg->grpc_address);
	STAILQ_INIT(&p->q);
	if (p->ns == NULL) {
		free(p);
		return NULL;
	}
	if (p->ttrpc_address == NULL && p->publish_binary == NULL)
		log_warnx("%s: neither TTRPC_ADDRESS nor -publish-binary: "
		          "events stay queued",
		    __func__);
	return p;
}

static void
item_free(struct event_item *it)
{
	free(it->topic);
	free(it->type_url);
	free(it->data);
	free(it);
}

static void
conn_closed(struct ttrpc_conn *c, void *arg)
{
	struct events_pub *p = arg;

	if (p->conn == c)
		p->conn = NULL;
}

void
events_free(struct events_pub *p)
{
	struct event_item *it;

	if (p == NULL)
		return;
	evloop_timer_del(p->retry);
	if (p->conn != NULL) {
		ttrpc_conn_set_close_cb(p->conn, NULL, NULL);
		ttrpc_conn_close(p->conn);
	}
	while ((it = STAILQ_FIRST(&p->q)) != NULL) {
		STAILQ_REMOVE_HEAD(&p->q, entry);
		item_free(it);
	}
	free(p->ns);
	free(p->ttrpc_address);
	free(p->publish_binary);
	free(p->grpc_address);
	free(p);
}

size_t
events_pending(const struct events_pub *p)
{
	return p->n;
}

static void pump(struct events_pub *p);

static void
retry_fire(struct ev_timer *t, void *arg)
{
	struct events_pub *p = arg;

	(void)t;
	p->retry = NULL;
	pump(p);
}

/* The head event is done with: delivered, or rejected for good. */
static void
head_done(struct events_pub *p)
{
	struct event_item *it = STAILQ_FIRST(&p->q);

	STAILQ_REMOVE_HEAD(&p->q, entry);
	p->n--;
	item_free(it);
	p->in_flight = false;
	p->backoff_ms = 0;
	pump(p);
}

static void
head_failed(struct events_pub *p, int code, const char *why)
{
	struct event_item *it = STAILQ_FIRST(&p->q);

	p->in_flight = false;
	if (code == 3 /* InvalidArgument: it will never be accepted */) {
		log_warnx("%s: containerd rejected %s event, dropping it: %s",
		    __func__, it->topic, why);
		head_done(p);
		return;
	}
	it->attempts++;
	p->backoff_ms =
	    p->backoff_ms == 0 ? EV_BACKOFF_MIN_MS : p->backoff_ms * 2;
	if (p->backoff_ms > EV_BACKOFF_MAX_MS)
		p->backoff_ms = EV_BACKOFF_MAX_MS;
	log_warnx("%s: publishing %s (attempt %u, %zu queued) failed: %s; "
	          "retry in %u ms",
	    __func__, it->topic, it->attempts, p->n, why, p->backoff_ms);
	p->retry = evloop_timer_add(
	    p->loop, (uint64_t)p->backoff_ms * 1000000ull, 0, retry_fire, p);
}

static void
forward_done(const struct ttrpc_result *res, void *arg)
{
	struct events_pub *p = arg;

	if (res->code == 0)
		head_done(p);
	else
		head_failed(p, res->code, res->message ? res->message : "");
}

static int
send_forward(struct events_pub *p, struct event_item *it)
{
	Containerd__Services__Events__Ttrpc__V1__ForwardRequest req;
	Containerd__Services__Events__Ttrpc__V1__Envelope env;
	Google__Protobuf__Timestamp ts;
	Google__Protobuf__Any any;
	int fd;

	if (p->conn == NULL) {
		if ((fd = ttrpc_dial_unix(p->ttrpc_address)) == -1)
			return -1;
		if ((p->conn = ttrpc_conn_new(p->loop, fd, NULL)) == NULL) {
			close(fd);
			return -1;
		}
		ttrpc_conn_set_close_cb(p->conn, conn_closed, p);
	}
	containerd__services__events__ttrpc__v1__forward_request__init(&req);
	containerd__services__events__ttrpc__v1__envelope__init(&env);
	google__protobuf__timestamp__init(&ts);
	google__protobuf__any__init(&any);
	ts.seconds = it->at.tv_sec;
	ts.nanos = (int32_t)it->at.tv_nsec;
	any.type_url = it->type_url;
	any.value.data = it->data;
	any.value.len = it->len;
	env.timestamp = &ts;
	env.namespace_ = p->ns;
	env.topic = it->topic;
	env.event = &any;
	req.envelope = &env;
	if (ttrpc_call_start(p->conn,
	        "containerd.services.events.ttrpc.v1.Events", "Forward",
	        &req.base, EV_FORWARD_TIMEOUT_NS, NULL, 0, forward_done,
	        p) == 0)
		return -1;
	return 0;
}

static void
publisher_exited(pid_t pid, int wstatus, void *arg)
{
	struct events_pub *p = arg;
	char why[64];

	(void)pid;
	if (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0) {
		head_done(p);
		return;
	}
	snprintf(why, sizeof(why), "publish binary exit status 0x%x", wstatus);
	head_failed(p, 2, why);
}

/* Legacy transport: one exec per event, the Any on its stdin. */
static int
send_exec(struct events_pub *p, struct event_item *it)
{
	Google__Protobuf__Any any;
	uint8_t *buf;
	size_t len;
	int pfd[2], devnull;
	pid_t pid;
	ssize_t w;

	google__protobuf__any__init(&any);
	any.type_url = it->type_url;
	any.value.data = it->data;
	any.value.len = it->len;
	if ((buf = ttrpc_msg_pack(&any.base, &len)) == NULL)
		return -1;
	/* A pipe holds 64 KiB: an Any bigger than that would block us. */
	if (len > 65536) {
		free(buf);
		errno = EMSGSIZE;
		return -1;
	}
	if (pipe2(pfd, O_CLOEXEC) == -1) {
		free(buf);
		return -1;
	}
	w = write(pfd[1], buf, len);
	free(buf);
	close(pfd[1]);
	if (w != (ssize_t)len) {
		close(pfd[0]);
		errno = EIO;
		return -1;
	}
	if ((pid = fork()) == -1) {
		close(pfd[0]);
		return -1;
	}
	if (pid == 0) {
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		devnull = open("/dev/null", O_WRONLY);
		if (dup2(pfd[0], 0) == -1 ||
		    (devnull != -1 && dup2(devnull, 1) == -1))
			_exit(127);
		execl(p->publish_binary, p->publish_binary, "--address",
		    p->grpc_address ? p->grpc_address : "", "publish",
		    "--topic", it->topic, "--namespace", p->ns, (char *)NULL);
		_exit(127);
	}
	close(pfd[0]);
	return shim_child_watch(pid, publisher_exited, p);
}

static void
pump(struct events_pub *p)
{
	struct event_item *it;
	int rc;

	if (p->in_flight || p->retry != NULL ||
	    (it = STAILQ_FIRST(&p->q)) == NULL)
		return;
	if (p->ttrpc_address == NULL && p->publish_binary == NULL)
		return;
	/*
	 * In flight before sending: the completion may run before the send
	 * returns (a connection that broke while writing) and clears it.
	 */
	p->in_flight = true;
	if (p->ttrpc_address != NULL)
		rc = send_forward(p, it);
	else
		rc = send_exec(p, it);
	if (rc == -1) {
		char why[128];
		snprintf(why, sizeof(why), "%s", strerror(errno));
		head_failed(p, 14, why);
	}
}

int
events_publish(struct events_pub *p, const char *topic, const char *type_url,
    const uint8_t *payload, size_t len)
{
	struct event_item *it;

	if ((it = calloc(1, sizeof(*it))) == NULL)
		goto fail;
	clock_gettime(CLOCK_REALTIME, &it->at);
	it->topic = strdup(topic);
	it->type_url = strdup(type_url);
	it->data = malloc(len ? len : 1);
	if (it->topic == NULL || it->type_url == NULL || it->data == NULL)
		goto fail;
	if (len > 0)
		memcpy(it->data, payload, len);
	it->len = len;
	STAILQ_INSERT_TAIL(&p->q, it, entry);
	p->n++;
	log_debug("%s: %s queued (%zu pending)", __func__, topic, p->n);
	pump(p);
	return 0;
fail:
	log_warnx("%s: out of memory: event %s lost", __func__, topic);
	if (it != NULL)
		item_free(it);
	errno = ENOMEM;
	return -1;
}

size_t
events_drain(struct events_pub *p, int timeout_ms)
{
	uint64_t deadline = evloop_now_ns() + (uint64_t)timeout_ms * 1000000ull;
	struct event_item *it;

	while (p->n > 0 && evloop_now_ns() < deadline) {
		if (!p->in_flight && p->retry == NULL)
			pump(p);
		if (!p->in_flight && p->retry == NULL)
			break; /* no transport at all */
		evloop_run_once(p->loop, 50);
	}
	STAILQ_FOREACH(it, &p->q, entry)
	{
		log_warnx("%s: event %s (%s) not delivered before exit",
		    __func__, it->topic, it->type_url);
	}
	return p->n;
}

/* ---- Task events ---- */

/* desc: the message; NULL for Create, which has an encoder of its own. */
static const struct {
	const char *topic, *type;
	const ProtobufCMessageDescriptor *desc;
} ev_names[] = {
    [TS_EV_CREATE] = {"/tasks/create", "containerd.events.TaskCreate", NULL},
    [TS_EV_START] = {"/tasks/start", "containerd.events.TaskStart",
        &containerd__events__task_start__descriptor},
    [TS_EV_EXIT] = {"/tasks/exit", "containerd.events.TaskExit",
        &containerd__events__task_exit__descriptor},
    [TS_EV_DELETE] = {"/tasks/delete", "containerd.events.TaskDelete",
        &containerd__events__task_delete__descriptor},
    [TS_EV_OOM] = {"/tasks/oom", "containerd.events.TaskOOM",
        &containerd__events__task_oom__descriptor},
    [TS_EV_EXEC_ADDED] = {"/tasks/exec-added",
        "containerd.events.TaskExecAdded",
        &containerd__events__task_exec_added__descriptor},
    [TS_EV_EXEC_STARTED] = {"/tasks/exec-started",
        "containerd.events.TaskExecStarted",
        &containerd__events__task_exec_started__descriptor},
    [TS_EV_PAUSED] = {"/tasks/paused", "containerd.events.TaskPaused",
        &containerd__events__task_paused__descriptor},
    [TS_EV_RESUMED] = {"/tasks/resumed", "containerd.events.TaskResumed",
        &containerd__events__task_resumed__descriptor},
};

const char *
events_topic(enum ts_event_kind kind)
{
	return ev_names[kind].topic;
}

const char *
events_type_url(enum ts_event_kind kind)
{
	return ev_names[kind].type;
}

static uint8_t *
encode_create(const struct ts_event *ev, size_t *len)
{
	const struct backend_create_req *c = ev->create;
	Containerd__Events__TaskCreate m;
	Containerd__Events__TaskIO io;
	Containerd__Types__Mount *mounts = NULL, **mp = NULL;
	uint8_t *out = NULL;
	size_t i, n = c != NULL ? c->n_rootfs : 0;

	containerd__events__task_create__init(&m);
	containerd__events__task_io__init(&io);
	m.container_id = mut(ev->container_id);
	m.pid = ev->pid;
	if (c != NULL) {
		m.bundle = mut(c->bundle);
		m.checkpoint = mut(c->checkpoint ? c->checkpoint : "");
		io.stdin = mut(c->io.stdin_path ? c->io.stdin_path : "");
		io.stdout = mut(c->io.stdout_path ? c->io.stdout_path : "");
		io.stderr = mut(c->io.stderr_path ? c->io.stderr_path : "");
		io.terminal = c->io.terminal;
		m.io = &io;
	}
	if (n > 0) {
		mounts = calloc(n, sizeof(*mounts));
		mp = calloc(n, sizeof(*mp));
		if (mounts == NULL || mp == NULL)
			goto out;
		for (i = 0; i < n; i++) {
			containerd__types__mount__init(&mounts[i]);
			mounts[i].type = mut(c->rootfs[i].type);
			mounts[i].source = mut(c->rootfs[i].source);
			mounts[i].target =
			    mut(c->rootfs[i].target ? c->rootfs[i].target : "");
			mounts[i].n_options = c->rootfs[i].n_options;
			mounts[i].options = (char **)(void *)mut(
			    (const char *)(const void *)c->rootfs[i].options);
			mp[i] = &mounts[i];
		}
		m.n_rootfs = n;
		m.rootfs = mp;
	}
	out = ttrpc_msg_pack(&m.base, len);
out:
	free(mounts);
	free(mp);
	return out;
}

/* Store *v in m's field `name` if m's type has one of protobuf type t. */
static void
set_field(ProtobufCMessage *m, const char *name, ProtobufCType t, const void *v,
    size_t size)
{
	const ProtobufCFieldDescriptor *f =
	    protobuf_c_message_descriptor_get_field_by_name(
	        m->descriptor, name);

	if (f != NULL && f->type == t)
		memcpy((uint8_t *)m + f->offset, v, size);
}

uint8_t *
events_encode(const struct ts_event *ev, size_t *len)
{
	const ProtobufCMessageDescriptor *d;
	Google__Protobuf__Timestamp ts, *tsp = &ts;
	char *cid = mut(ev->container_id), *id = mut(ev->id);
	ProtobufCMessage *m;
	uint8_t *out;

	if (ev->kind == TS_EV_CREATE)
		return encode_create(ev, len);
	if ((unsigned)ev->kind >= sizeof(ev_names) / sizeof(ev_names[0]) ||
	    (d = ev_names[ev->kind].desc) == NULL)
		return NULL;
	if ((m = malloc(d->sizeof_message)) == NULL)
		return NULL;
	d->message_init(m);
	google__protobuf__timestamp__init(&ts);
	ts.seconds = ev->exited_at.tv_sec;
	ts.nanos = (int32_t)ev->exited_at.tv_nsec;
	/*
	 * The other task events are the same few fields, named alike in
	 * every message (the exec id is "exec_id" in the Exec ones): each
	 * takes those its type has.
	 */
	set_field(m, "container_id", PROTOBUF_C_TYPE_STRING, &cid, sizeof(cid));
	set_field(m, "id", PROTOBUF_C_TYPE_STRING, &id, sizeof(id));
	set_field(m, "exec_id", PROTOBUF_C_TYPE_STRING, &id, sizeof(id));
	set_field(m, "pid", PROTOBUF_C_TYPE_UINT32, &ev->pid, sizeof(ev->pid));
	set_field(m, "exit_status", PROTOBUF_C_TYPE_UINT32, &ev->exit_status,
	    sizeof(ev->exit_status));
	set_field(m, "exited_at", PROTOBUF_C_TYPE_MESSAGE, &tsp, sizeof(tsp));
	out = ttrpc_msg_pack(m, len);
	free(m);
	return out;
}

void
events_task_event(void *arg, const struct ts_event *ev)
{
	struct events_pub *p = arg;
	uint8_t *buf;
	size_t len;

	if ((buf = events_encode(ev, &len)) == NULL) {
		log_warnx("%s: out of memory: %s of %s lost", __func__,
		    events_topic(ev->kind), ev->container_id);
		return;
	}
	log_info("%s: %s container=%s id=%s pid=%u exit=%u", __func__,
	    events_topic(ev->kind), ev->container_id, ev->id, ev->pid,
	    ev->exit_status);
	events_publish(
	    p, events_topic(ev->kind), events_type_url(ev->kind), buf, len);
	free(buf);
}

/* ---- children ---- */

#define MAX_WATCHED 64
static struct {
	pid_t pid;
	void (*cb)(pid_t, int, void *);
	void *arg;
} watched[MAX_WATCHED];

int
shim_child_watch(pid_t pid, void (*cb)(pid_t, int, void *), void *arg)
{
	int i;

	for (i = 0; i < MAX_WATCHED; i++) {
		if (watched[i].pid == 0) {
			watched[i].pid = pid;
			watched[i].cb = cb;
			watched[i].arg = arg;
			return 0;
		}
	}
	errno = EAGAIN;
	return -1;
}

void
shim_children_reap(void)
{
	int status, i;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (i = 0; i < MAX_WATCHED; i++) {
			if (watched[i].pid == pid) {
				void (*cb)(pid_t, int, void *) = watched[i].cb;
				void *a = watched[i].arg;
				watched[i].pid = 0;
				cb(pid, status, a);
				break;
			}
		}
		if (i == MAX_WATCHED)
			log_debug("%s: reaped pid %d status 0x%x", __func__,
			    (int)pid, status);
	}
}
