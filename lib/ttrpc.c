#include "lib/ttrpc_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/log.h"

struct ttrpc_service {
	char *name;
	const struct ttrpc_method *methods;
	size_t n;
	void *arg;
	struct ttrpc_service *next;
};

struct ttrpc_listener {
	int fd;
	struct ev_io *io;
	struct ttrpc_server *srv;
	struct ttrpc_listener *next;
};

TAILQ_HEAD(ttrpc_conn_list, ttrpc_conn);

struct ttrpc_server {
	struct evloop *loop;
	struct ttrpc_service *services;
	struct ttrpc_listener *listeners;
	struct ttrpc_conn_list conns;
	int same_uid;
	void (*on_open)(struct ttrpc_conn *, void *);
	void (*on_close)(struct ttrpc_conn *, void *);
	void *cb_arg;
};

static void conn_io_cb(struct ev_io *io, int fd, unsigned events, void *arg);
static void call_free(struct ttrpc_call *call);

static int
set_nonblock(int fd)
{
	int fl;

	if ((fl = fcntl(fd, F_GETFL)) == -1)
		return -1;
	if (fl & O_NONBLOCK)
		return 0;
	return fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* connections */

struct ttrpc_conn *
ttrpc_conn_new(struct evloop *loop, int fd, struct ttrpc_server *srv)
{
	struct ttrpc_conn *c;

	if (set_nonblock(fd) == -1)
		return NULL;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->loop = loop;
	c->srv = srv;
	c->fd = fd;
	c->next_sid = 1;
	TAILQ_INIT(&c->calls);
	TAILQ_INIT(&c->pending);
	ttrpc_reader_init(&c->rd, 0);
	ttrpc_writer_init(&c->wr, 0);
	if ((c->io = evloop_io_add(loop, fd, EV_READ, conn_io_cb, c)) == NULL) {
		ttrpc_reader_free(&c->rd);
		free(c);
		return NULL;
	}
	if (srv != NULL) {
		TAILQ_INSERT_TAIL(&srv->conns, c, entry);
		if (srv->on_open != NULL)
			srv->on_open(c, srv->cb_arg);
	}
	return c;
}

static void
conn_free(struct ttrpc_conn *c)
{
	ttrpc_reader_free(&c->rd);
	ttrpc_writer_free(&c->wr);
	free(c);
}

void
ttrpc_conn_unbusy(struct ttrpc_conn *c)
{
	if (--c->busy == 0 && c->dead)
		conn_free(c);
}

void
ttrpc_conn_close(struct ttrpc_conn *c)
{
	struct ttrpc_call *call;

	if (c == NULL || c->closed)
		return;
	c->closed = 1;
	c->busy++;
	evloop_io_del(c->io);
	c->io = NULL;
	close(c->fd);
	c->fd = -1;
	/* Parked handlers learn the peer is gone; a cancel callback may
	 * release its call right away, so pop before calling. */
	while ((call = TAILQ_FIRST(&c->calls)) != NULL) {
		TAILQ_REMOVE(&c->calls, call, entry);
		c->ncalls--;
		call->conn = NULL;
		call->cancelled = 1;
		evloop_timer_del(call->deadline);
		call->deadline = NULL;
		if (call->cancel_fn != NULL)
			call->cancel_fn(call, call->cancel_arg);
	}
	ttrpc_client_fail_all(c);
	if (c->srv != NULL) {
		TAILQ_REMOVE(&c->srv->conns, c, entry);
		if (c->srv->on_close != NULL)
			c->srv->on_close(c, c->srv->cb_arg);
	}
	if (c->close_fn != NULL)
		c->close_fn(c, c->close_arg);
	c->dead = 1;
	ttrpc_conn_unbusy(c);
}

void
ttrpc_conn_set_close_cb(
    struct ttrpc_conn *c, void (*fn)(struct ttrpc_conn *, void *), void *arg)
{
	c->close_fn = fn;
	c->close_arg = arg;
}

int
ttrpc_conn_fd(const struct ttrpc_conn *c)
{
	return c->fd;
}

void
ttrpc_conn_set_max_frame(struct ttrpc_conn *c, uint32_t max)
{
	c->rd.max = max ? max : TTRPC_MAX_DATA;
}

void
ttrpc_conn_set_user(struct ttrpc_conn *c, void *user)
{
	c->user = user;
}

void *
ttrpc_conn_user(const struct ttrpc_conn *c)
{
	return c->user;
}

void
ttrpc_conn_set_extra(struct ttrpc_conn *c, ttrpc_extra_fn fn, void *arg)
{
	c->extra_fn = fn;
	c->extra_arg = arg;
}

static void
conn_flush(struct ttrpc_conn *c)
{
	int rc;

	if (c->closed)
		return;
	rc = ttrpc_writer_flush(&c->wr, c->fd);
	if (rc == -1) {
		log_debug("%s: write: %s", __func__, strerror(errno));
		ttrpc_conn_close(c);
		return;
	}
	if (evloop_io_set(c->io, rc == 1 ? EV_READ : EV_READ | EV_WRITE) == -1)
		log_warn("%s: evloop_io_set", __func__);
}

int
ttrpc_conn_queue(struct ttrpc_conn *c, uint32_t sid, uint8_t type,
    uint8_t flags, const void *data, size_t len)
{
	if (c->closed) {
		errno = EPIPE;
		return -1;
	}
	if (ttrpc_writer_queue(&c->wr, sid, type, flags, data, len) == -1) {
		if (errno == EMSGSIZE)
			return -1;
		/* The peer stopped reading: dropping a frame would desync
		 * it, so give up on the connection. */
		log_warnx("%s: output queue full (%zu bytes), closing",
		    __func__, ttrpc_writer_queued(&c->wr));
		c->busy++;
		ttrpc_conn_close(c);
		ttrpc_conn_unbusy(c);
		errno = ENOBUFS;
		return -1;
	}
	/* Only write now if nothing is waiting for EV_WRITE already. */
	if (!(evloop_io_events(c->io) & EV_WRITE)) {
		c->busy++;
		conn_flush(c);
		ttrpc_conn_unbusy(c);
	}
	return 0;
}

int
ttrpc_conn_send_frame(struct ttrpc_conn *c, uint32_t stream_id, uint8_t type,
    uint8_t flags, const void *data, size_t len)
{
	return ttrpc_conn_queue(c, stream_id, type, flags, data, len);
}

/* Response with a status and an optional payload. */
static int
send_response(struct ttrpc_conn *c, uint32_t sid, int code, const char *msg,
    const uint8_t *payload, size_t len)
{
	uint8_t *buf;
	size_t n;
	int rc;

	/* Go servers always send a status, even an empty one (0a 00). */
	if (ttrpc_msg_response(code, msg, payload, len, true, &buf, &n) == -1)
		return -1;
	if (n > c->wr.max) {
		free(buf);
		errno = EMSGSIZE;
		return -1;
	}
	rc = ttrpc_conn_queue(c, sid, TTRPC_T_RESPONSE, 0, buf, n);
	free(buf);
	return rc;
}

static int send_status(struct ttrpc_conn *c, uint32_t sid, int code,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int
send_status(struct ttrpc_conn *c, uint32_t sid, int code, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return send_response(c, sid, code, msg, NULL, 0);
}

/* server: dispatch */

static const struct ttrpc_method *
find_method(struct ttrpc_server *srv, const char *service, const char *method,
    void **arg, int *unknown_service)
{
	struct ttrpc_service *s;
	size_t i;

	*unknown_service = 1;
	for (s = srv->services; s != NULL; s = s->next) {
		if (strcmp(s->name, service) != 0)
			continue;
		*unknown_service = 0;
		for (i = 0; i < s->n; i++) {
			if (strcmp(s->methods[i].name, method) == 0) {
				*arg = s->arg;
				return &s->methods[i];
			}
		}
		return NULL;
	}
	return NULL;
}

static void
deadline_cb(struct ev_timer *t, void *arg)
{
	struct ttrpc_call *call = arg;
	struct ttrpc_conn *c = call->conn;

	(void)t;
	call->deadline = NULL; /* the loop frees a fired one-shot timer */
	if (c == NULL)
		return;
	TAILQ_REMOVE(&c->calls, call, entry);
	c->ncalls--;
	call->conn = NULL;
	call->cancelled = 1;
	c->busy++;
	send_status(c, call->sid, QB_E_DEADLINE, "deadline exceeded");
	if (call->cancel_fn != NULL)
		call->cancel_fn(call, call->cancel_arg);
	ttrpc_conn_unbusy(c);
}

static void
handle_request(
    struct ttrpc_conn *c, const struct ttrpc_hdr *h, const uint8_t *data)
{
	const struct ttrpc_method *m;
	struct ttrpc_call *call;
	Ttrpc__Request *req;
	void *arg = NULL;
	int unknown_service;

	if (c->srv == NULL)
		return; /* a client-only connection serves nothing */
	if ((h->stream_id & 1) == 0) {
		send_status(c, h->stream_id, QB_E_INVALID,
		    "StreamID must be odd for client initiated streams");
		return;
	}
	if (h->stream_id <= c->last_sid) {
		send_status(c, h->stream_id, QB_E_INVALID,
		    "StreamID cannot be re-used and must increment");
		return;
	}
	c->last_sid = h->stream_id;
	req = ttrpc__request__unpack(NULL, h->len, data);
	if (req == NULL) {
		send_status(
		    c, h->stream_id, QB_E_INVALID, "unmarshal request error");
		return;
	}
	m = find_method(
	    c->srv, req->service, req->method, &arg, &unknown_service);
	if (m == NULL) {
		if (unknown_service)
			send_status(c, h->stream_id, QB_E_UNIMPLEMENTED,
			    "service %s", req->service);
		else
			send_status(c, h->stream_id, QB_E_UNIMPLEMENTED,
			    "method %s", req->method);
		ttrpc__request__free_unpacked(req, NULL);
		return;
	}
	if (c->ncalls >= TTRPC_MAX_CALLS) {
		send_status(c, h->stream_id, QB_E_EXHAUSTED,
		    "too many calls in flight");
		ttrpc__request__free_unpacked(req, NULL);
		return;
	}
	if ((call = calloc(1, sizeof(*call))) == NULL) {
		send_status(c, h->stream_id, QB_E_EXHAUSTED, "out of memory");
		ttrpc__request__free_unpacked(req, NULL);
		return;
	}
	call->sid = h->stream_id;
	call->req = req;
	if (m->in != NULL) {
		call->msg = protobuf_c_message_unpack(
		    m->in, NULL, req->payload.len, req->payload.data);
		if (call->msg == NULL) {
			send_status(c, h->stream_id, QB_E_INTERNAL,
			    "unmarshal %s payload", m->in->name);
			call_free(call);
			return;
		}
	}
	call->conn = c;
	TAILQ_INSERT_TAIL(&c->calls, call, entry);
	c->ncalls++;
	if (req->timeout_nano > 0) {
		call->deadline = evloop_timer_add(
		    c->loop, (uint64_t)req->timeout_nano, 0, deadline_cb, call);
		if (call->deadline == NULL)
			log_warn("%s: deadline timer", __func__);
	}
	m->fn(call, call->msg, arg);
}

static int
handle_frame(struct ttrpc_conn *c, const struct ttrpc_frame *f)
{
	const struct ttrpc_hdr *h = &f->hdr;

	if (f->oversized) {
		log_warnx("%s: frame of %u bytes on stream %u exceeds %u",
		    __func__, h->len, h->stream_id, c->rd.max);
		if (h->type == TTRPC_T_REQUEST && c->srv != NULL)
			send_status(c, h->stream_id, QB_E_EXHAUSTED,
			    "message length %u exceed maximum message size of "
			    "%u",
			    h->len, c->rd.max);
		else if (h->type == TTRPC_T_RESPONSE)
			ttrpc_client_oversized(c, h->stream_id);
		return 0;
	}
	switch (h->type) {
	case TTRPC_T_REQUEST:
		handle_request(c, h, f->data);
		return 0;
	case TTRPC_T_RESPONSE:
		ttrpc_client_response(c, h, f->data);
		return 0;
	default:
		if (h->type >= TTRPC_T_EXTRA_MIN && c->extra_fn != NULL)
			return c->extra_fn(c, h, f->data, c->extra_arg);
		/* Unknown types are ignored, as ttrpc v1.1 servers do. */
		return 0;
	}
}

static void
conn_io_cb(struct ev_io *io, int fd, unsigned events, void *arg)
{
	struct ttrpc_conn *c = arg;
	struct ttrpc_frame f;
	ssize_t n;
	int eof = 0;

	(void)io;
	(void)fd;
	c->busy++;
	if (events & EV_WRITE)
		conn_flush(c);
	if (!c->closed && (events & (EV_READ | EV_HUP | EV_ERR))) {
		n = ttrpc_reader_fill(&c->rd, c->fd);
		if (n == 0)
			eof = 1;
		else if (n == -1 && errno != EAGAIN && errno != EWOULDBLOCK) {
			log_debug("%s: read: %s", __func__, strerror(errno));
			eof = 1;
		}
		while (!c->closed && ttrpc_reader_next(&c->rd, &f) == 1) {
			if (handle_frame(c, &f) == -1) {
				log_warnx("%s: protocol error on fd %d",
				    __func__, c->fd);
				ttrpc_conn_close(c);
			}
		}
		if (eof) {
			if (ttrpc_reader_pending(&c->rd) > 0)
				log_warnx("%s: connection closed inside a "
				          "frame",
				    __func__);
			ttrpc_conn_close(c);
		}
	}
	ttrpc_conn_unbusy(c);
}

/* server: calls */

const char *
ttrpc_call_service(const struct ttrpc_call *call)
{
	return call->req->service;
}

const char *
ttrpc_call_method(const struct ttrpc_call *call)
{
	return call->req->method;
}

uint32_t
ttrpc_call_stream_id(const struct ttrpc_call *call)
{
	return call->sid;
}

const uint8_t *
ttrpc_call_payload(const struct ttrpc_call *call, size_t *len)
{
	*len = call->req->payload.len;
	return call->req->payload.data;
}

const char *
ttrpc_call_metadata(const struct ttrpc_call *call, const char *key)
{
	size_t i;

	for (i = 0; i < call->req->n_metadata; i++)
		if (strcasecmp(call->req->metadata[i]->key, key) == 0)
			return call->req->metadata[i]->value;
	return NULL;
}

const char *
ttrpc_call_namespace(const struct ttrpc_call *call)
{
	return ttrpc_call_metadata(call, "containerd-namespace-ttrpc");
}

struct ttrpc_conn *
ttrpc_call_conn(const struct ttrpc_call *call)
{
	return call->conn;
}

int
ttrpc_call_cancelled(const struct ttrpc_call *call)
{
	return call->cancelled;
}

void
ttrpc_call_set_cancel(
    struct ttrpc_call *call, void (*fn)(struct ttrpc_call *, void *), void *arg)
{
	call->cancel_fn = fn;
	call->cancel_arg = arg;
}

static void
call_free(struct ttrpc_call *call)
{
	if (call->msg != NULL)
		protobuf_c_message_free_unpacked(call->msg, NULL);
	ttrpc__request__free_unpacked(call->req, NULL);
	free(call);
}

/* Detach from the connection; returns it if an answer can still go out. */
static struct ttrpc_conn *
call_detach(struct ttrpc_call *call)
{
	struct ttrpc_conn *c = call->conn;

	evloop_timer_del(call->deadline);
	call->deadline = NULL;
	if (c == NULL)
		return NULL;
	TAILQ_REMOVE(&c->calls, call, entry);
	c->ncalls--;
	call->conn = NULL;
	return c;
}

void
ttrpc_call_release(struct ttrpc_call *call)
{
	if (call == NULL)
		return;
	call_detach(call);
	call_free(call);
}

int
ttrpc_call_reply_raw(struct ttrpc_call *call, const void *payload, size_t len)
{
	struct ttrpc_conn *c = call_detach(call);
	int rc = 0;

	if (c != NULL) {
		c->busy++;
		rc = send_response(c, call->sid, 0, NULL, payload, len);
		if (rc == -1 && errno == EMSGSIZE)
			rc = send_status(c, call->sid, QB_E_EXHAUSTED,
			    "response of %zu bytes is too large", len);
		ttrpc_conn_unbusy(c);
	}
	call_free(call);
	return rc;
}

int
ttrpc_call_reply(struct ttrpc_call *call, const ProtobufCMessage *resp)
{
	uint8_t *buf = NULL;
	size_t n = 0;
	int rc;

	if (resp != NULL && (buf = ttrpc_msg_pack(resp, &n)) == NULL)
		return ttrpc_call_reply_error(
		    call, QB_E_INTERNAL, "out of memory");
	rc = ttrpc_call_reply_raw(call, buf, n);
	free(buf);
	return rc;
}

static int
reply_status(struct ttrpc_call *call, int code, const char *msg)
{
	struct ttrpc_conn *c = call_detach(call);
	int rc = 0;

	if (c != NULL) {
		c->busy++;
		rc = send_response(c, call->sid, code, msg, NULL, 0);
		ttrpc_conn_unbusy(c);
	}
	call_free(call);
	return rc;
}

int
ttrpc_call_reply_error(struct ttrpc_call *call, int code, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return reply_status(call, code, msg);
}

int
ttrpc_call_reply_qb(struct ttrpc_call *call, const struct qb_error *err)
{
	return reply_status(
	    call, err->code ? err->code : QB_E_UNKNOWN, err->msg);
}

/* server: setup */

struct ttrpc_server *
ttrpc_server_new(struct evloop *loop)
{
	struct ttrpc_server *srv;

	if ((srv = calloc(1, sizeof(*srv))) == NULL)
		return NULL;
	srv->loop = loop;
	TAILQ_INIT(&srv->conns);
	return srv;
}

void
ttrpc_server_free(struct ttrpc_server *srv)
{
	struct ttrpc_service *s;
	struct ttrpc_listener *l;
	struct ttrpc_conn *c;

	if (srv == NULL)
		return;
	while ((l = srv->listeners) != NULL) {
		srv->listeners = l->next;
		evloop_io_del(l->io);
		close(l->fd);
		free(l);
	}
	while ((c = TAILQ_FIRST(&srv->conns)) != NULL)
		ttrpc_conn_close(c);
	while ((s = srv->services) != NULL) {
		srv->services = s->next;
		free(s->name);
		free(s);
	}
	free(srv);
}

int
ttrpc_server_register(struct ttrpc_server *srv, const char *service,
    const struct ttrpc_method *methods, size_t n, void *arg)
{
	struct ttrpc_service *s, **tail;

	for (s = srv->services; s != NULL; s = s->next) {
		if (strcmp(s->name, service) == 0) {
			errno = EEXIST;
			return -1;
		}
	}
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return -1;
	if ((s->name = strdup(service)) == NULL) {
		free(s);
		return -1;
	}
	s->methods = methods;
	s->n = n;
	s->arg = arg;
	for (tail = &srv->services; *tail != NULL; tail = &(*tail)->next)
		;
	*tail = s;
	return 0;
}

void
ttrpc_server_require_same_uid(struct ttrpc_server *srv, int on)
{
	srv->same_uid = on;
}

void
ttrpc_server_set_conn_cbs(struct ttrpc_server *srv,
    void (*on_open)(struct ttrpc_conn *, void *),
    void (*on_close)(struct ttrpc_conn *, void *), void *arg)
{
	srv->on_open = on_open;
	srv->on_close = on_close;
	srv->cb_arg = arg;
}

int
ttrpc_peercred_check(int fd)
{
	struct ucred uc;
	socklen_t len = sizeof(uc);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) == -1)
		return -1;
	if (uc.uid != geteuid() || uc.gid != getegid()) {
		errno = EPERM;
		return -1;
	}
	return 0;
}

static void
listener_cb(struct ev_io *io, int fd, unsigned events, void *arg)
{
	struct ttrpc_listener *l = arg;
	struct ttrpc_server *srv = l->srv;
	struct ttrpc_conn *c;
	int cfd;

	(void)io;
	(void)events;
	for (;;) {
		cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd == -1) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				log_warn("%s: accept", __func__);
			return;
		}
		if (srv->same_uid && ttrpc_peercred_check(cfd) == -1) {
			log_warn("%s: refusing connection", __func__);
			close(cfd);
			continue;
		}
		if ((c = ttrpc_conn_new(srv->loop, cfd, srv)) == NULL) {
			log_warn("%s: ttrpc_conn_new", __func__);
			close(cfd);
		}
	}
}

int
ttrpc_server_listen_fd(struct ttrpc_server *srv, int lfd)
{
	struct ttrpc_listener *l;

	if (set_nonblock(lfd) == -1)
		return -1;
	if ((l = calloc(1, sizeof(*l))) == NULL)
		return -1;
	l->fd = lfd;
	l->srv = srv;
	if ((l->io = evloop_io_add(srv->loop, lfd, EV_READ, listener_cb, l)) ==
	    NULL) {
		free(l);
		return -1;
	}
	l->next = srv->listeners;
	srv->listeners = l;
	return 0;
}
