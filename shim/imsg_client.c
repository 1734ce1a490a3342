/*
 * The shim's imsg client core (shim/imsg_client.h): pending list, table
 * checks, IMSG_ERROR decoding, connection death, blocking calls.
 */
#include "shim/imsg_client.h"

#include <sys/queue.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "imsg/imsg.h"
#include "imsg/qemubox_imsg.h"
#include "lib/evloop.h"
#include "lib/log.h"

#define NS_PER_MS 1000000ull

struct pending {
	TAILQ_ENTRY(pending) entry;
	uint32_t peerid;
	const struct imsg_client_rpc *rpc;
	imsg_client_done_fn done;
	void *arg;
};

struct imsg_client {
	struct imsgbuf ibuf;
	struct imsg_client_peer peer;
	struct evloop *loop; /* NULL: the caller drives the socket */
	struct ev_io *io;
	TAILQ_HEAD(, pending) pending;
	uint32_t next_peerid;
	bool dead;
};

static const struct imsg_client_rpc *
rpc_find(const struct imsg_client *c, uint32_t type)
{
	size_t i;

	for (i = 0; i < c->peer.n_rpcs; i++)
		if (c->peer.rpcs[i].req_type == type)
			return &c->peer.rpcs[i];
	return NULL;
}

static void
set_events(struct imsg_client *c)
{
	if (c->io != NULL)
		evloop_io_set(c->io,
		    EV_READ | (msgbuf_queuelen(&c->ibuf.w) > 0 ? EV_WRITE : 0));
}

/* Fail every pending request with code/msg, oldest first. */
static void
fail_all(struct imsg_client *c, int code, const char *why)
{
	struct qb_error err;
	struct pending *p;

	while ((p = TAILQ_FIRST(&c->pending)) != NULL) {
		TAILQ_REMOVE(&c->pending, p, entry);
		qb_seterr(&err, code, "%s: %s", c->peer.name, why);
		p->done(p->arg, NULL, 0, -1, &err);
		free(p);
	}
}

void
imsg_client_lost(struct imsg_client *c, const char *why)
{
	if (c->dead)
		return;
	log_warnx("%s: %s: %s; connection closed", __func__, c->peer.name, why);
	c->dead = true;
	if (c->io != NULL) {
		evloop_io_del(c->io);
		c->io = NULL;
	}
	fail_all(c, QB_E_UNAVAILABLE, why);
	if (c->peer.lost != NULL)
		c->peer.lost(c->peer.arg, why);
}

struct imsg_client *
imsg_client_new(int fd, const struct imsg_client_peer *peer)
{
	struct imsg_client *c;

	/* Not calloc: ibuf holds a 64 KiB read buffer that only reads fill
	 * (imsg_init); clearing it would touch its 16 pages now. */
	if ((c = malloc(sizeof(*c))) == NULL)
		return NULL;
	c->peer = *peer;
	c->loop = NULL;
	c->io = NULL;
	c->next_peerid = 1;
	c->dead = false;
	TAILQ_INIT(&c->pending);
	imsg_init(&c->ibuf, fd);
	return c;
}

static void
on_io(struct ev_io *io, int fd, unsigned events, void *arg)
{
	struct imsg_client *c = arg;

	(void)io;
	(void)fd;
	if ((events & EV_WRITE) && imsg_client_write(c) == -1)
		return;
	if ((events & (EV_READ | EV_HUP | EV_ERR)) && imsg_client_read(c) == -1)
		return;
	set_events(c);
}

int
imsg_client_attach(struct imsg_client *c, struct evloop *loop)
{
	int fl;

	if ((fl = fcntl(c->ibuf.fd, F_GETFL)) == -1 ||
	    fcntl(c->ibuf.fd, F_SETFL, fl | O_NONBLOCK) == -1)
		return -1;
	if ((c->io = evloop_io_add(loop, c->ibuf.fd, EV_READ, on_io, c)) ==
	    NULL)
		return -1;
	c->loop = loop;
	set_events(c);
	return 0;
}

void
imsg_client_free(struct imsg_client *c, bool cancel)
{
	struct pending *p;

	if (c == NULL)
		return;
	if (c->io != NULL)
		evloop_io_del(c->io);
	c->io = NULL;
	if (cancel)
		fail_all(c, QB_E_CANCELED, "client closed");
	while ((p = TAILQ_FIRST(&c->pending)) != NULL) {
		TAILQ_REMOVE(&c->pending, p, entry);
		free(p);
	}
	imsg_clear(&c->ibuf);
	close(c->ibuf.fd);
	free(c);
}

int
imsg_client_fd(const struct imsg_client *c)
{
	return c->ibuf.fd;
}

bool
imsg_client_want_write(const struct imsg_client *c)
{
	return !c->dead && c->ibuf.w.queued > 0;
}

bool
imsg_client_dead(const struct imsg_client *c)
{
	return c->dead;
}

int
imsg_client_write(struct imsg_client *c)
{
	char why[128];

	if (c->dead)
		return -1;
	if (msgbuf_queuelen(&c->ibuf.w) > 0 && msgbuf_write(&c->ibuf.w) == -1 &&
	    errno != EAGAIN && errno != EINTR) {
		snprintf(why, sizeof(why), "write: %s", strerror(errno));
		imsg_client_lost(c, why);
		return -1;
	}
	return 0;
}

int
imsg_client_read(struct imsg_client *c)
{
	struct imsg imsg;
	char why[128];
	ssize_t n;
	int rc;

	if (c->dead)
		return -1;
	if ((n = imsg_read(&c->ibuf)) == -1) {
		if (errno == EAGAIN || errno == EINTR)
			return 0;
		snprintf(why, sizeof(why), "read: %s", strerror(errno));
		imsg_client_lost(c, why);
		return -1;
	}
	if (n == 0) {
		imsg_client_lost(c, "closed the channel");
		return -1;
	}
	while (!c->dead) {
		if ((n = imsg_get(&c->ibuf, &imsg)) == -1) {
			imsg_client_lost(c, "malformed message");
			return -1;
		}
		if (n == 0)
			break;
		rc = c->peer.dispatch(c, &imsg, c->peer.arg);
		if (imsg.fd != -1) /* an fd nobody took */
			close(imsg.fd);
		imsg_free(&imsg);
		if (rc == -1) {
			imsg_client_lost(c, "unexpected message");
			return -1;
		}
	}
	return c->dead ? -1 : 0;
}

static struct pending *
pending_find(struct imsg_client *c, uint32_t peerid)
{
	struct pending *p;

	if (c->peer.in_order) {
		p = TAILQ_FIRST(&c->pending);
		return p != NULL && p->peerid == peerid ? p : NULL;
	}
	TAILQ_FOREACH(p, &c->pending, entry)
	if (p->peerid == peerid)
		return p;
	return NULL;
}

/* The request's error: its own type, or a message staged under it. */
static int
answer_error(struct imsg_client *c, struct pending *p, struct imsg *imsg)
{
	struct qb_imsg_error e;
	struct qb_error err;

	if (qb_imsg_error_read(imsg, &e) == -1 ||
	    (e.req_type != p->rpc->req_type &&
	        (p->rpc->staged_type == 0 ||
	            e.req_type != p->rpc->staged_type))) {
		log_warnx("%s: %s: bad IMSG_ERROR for request %u", __func__,
		    c->peer.name, p->rpc->req_type);
		return -1;
	}
	TAILQ_REMOVE(&c->pending, p, entry);
	qb_seterr(&err, e.code, "%s", e.msg);
	p->done(p->arg, NULL, 0, -1, &err);
	free(p);
	return 0;
}

int
imsg_client_answer(struct imsg_client *c, struct imsg *imsg)
{
	/* What an empty reply's res points at. */
	static unsigned char empty;
	unsigned char *buf = NULL;
	uint32_t type = imsg_get_type(imsg);
	const struct imsg_client_rpc *rpc;
	struct pending *p;
	int fd;

	if ((p = pending_find(c, imsg_get_id(imsg))) == NULL) {
		if (c->peer.in_order) {
			log_warnx("%s: %s: answer %u out of order", __func__,
			    c->peer.name, type);
			return -1;
		}
		/* e.g. a second error for a START whose fd was refused. */
		log_debug("%s: %s: answer %u for no pending request", __func__,
		    c->peer.name, type);
		return 0;
	}
	if (type == IMSG_ERROR)
		return answer_error(c, p, imsg);
	rpc = p->rpc;
	if (type != rpc->res_type || imsg_get_len(imsg) != rpc->res_len ||
	    (imsg->fd != -1) != rpc->res_fd) {
		log_warnx("%s: %s: answer %u (%zu bytes, fd %s) to request %u",
		    __func__, c->peer.name, type, imsg_get_len(imsg),
		    imsg->fd != -1 ? "yes" : "no", rpc->req_type);
		return -1;
	}
	if (rpc->res_len > 0) {
		if ((buf = malloc(rpc->res_len)) == NULL) {
			log_warn("%s: malloc", __func__);
			return -1;
		}
		if (qb_imsg_get_struct(imsg, buf, rpc->res_len) == -1 ||
		    (rpc->res_check != NULL && rpc->res_check(buf) == -1)) {
			log_warnx("%s: %s: malformed answer %u", __func__,
			    c->peer.name, type);
			free(buf);
			return -1;
		}
	}
	fd = rpc->res_fd ? imsg_get_fd(imsg) : -1;
	TAILQ_REMOVE(&c->pending, p, entry);
	p->done(p->arg, buf != NULL ? buf : &empty, rpc->res_len, fd, NULL);
	free(p);
	free(buf);
	return 0;
}

/* Queue one message with a duplicate of fd (-1: none), owned by imsg. */
static int
send_msg(struct imsg_client *c, uint32_t type, uint32_t peerid, int fd,
    const void *data, size_t len)
{
	int dfd = -1;

	if (fd >= 0 && (dfd = fcntl(fd, F_DUPFD_CLOEXEC, 3)) == -1)
		return -1;
	/* imsg_compose owns dfd from here, sent or not. */
	return imsg_compose(&c->ibuf, type, peerid, 0, dfd, data, len);
}

/* imsg_client_request with the request's own fd (-1: none). */
static int
submit(struct imsg_client *c, uint32_t type, const void *req, size_t len,
    int req_fd, const struct imsg_client_staged *staged, size_t n_staged,
    imsg_client_done_fn done, void *arg, struct qb_error *err)
{
	const struct imsg_client_rpc *rpc;
	struct pending *p;
	size_t i;

	if ((rpc = rpc_find(c, type)) == NULL || rpc->req_len != len ||
	    (n_staged > 0 && rpc->staged_type == 0) ||
	    rpc->req_fd != (req_fd >= 0))
		return qb_seterr(err, QB_E_INTERNAL,
		    "%s: bad request %u (%zu bytes, fd %s)", c->peer.name, type,
		    len, req_fd >= 0 ? "yes" : "no");
	if (c->dead)
		return qb_seterr(
		    err, QB_E_UNAVAILABLE, "%s is not running", c->peer.name);
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return qb_seterr(
		    err, QB_E_INTERNAL, "%s: out of memory", c->peer.name);
	p->peerid = c->next_peerid++;
	p->rpc = rpc;
	p->done = done;
	p->arg = arg;
	for (i = 0; i < n_staged; i++) {
		if (send_msg(c, rpc->staged_type, p->peerid, staged[i].fd,
		        staged[i].data, staged[i].len) == -1)
			goto lost;
	}
	if (send_msg(c, type, p->peerid, req_fd, req, len) == -1) {
		if (n_staged > 0)
			goto lost;
		free(p);
		return qb_seterr(err, QB_E_INTERNAL, "%s: request %u: %s",
		    c->peer.name, type, strerror(errno));
	}
	TAILQ_INSERT_TAIL(&c->pending, p, entry);
	if (c->loop != NULL)
		set_events(c);
	else
		imsg_client_write(c);
	return 0;
lost:
	/*
	 * Some staged messages may be queued: the peer would keep them for a
	 * request that never comes, so this connection is no longer usable.
	 */
	qb_seterr(err, QB_E_INTERNAL, "%s: request %u: send: %s", c->peer.name,
	    type, strerror(errno));
	free(p);
	imsg_client_lost(c, "could not queue a request");
	return -1;
}

int
imsg_client_request(struct imsg_client *c, uint32_t type, const void *req,
    size_t len, const struct imsg_client_staged *staged, size_t n_staged,
    imsg_client_done_fn done, void *arg, struct qb_error *err)
{
	return submit(c, type, req, len, -1, staged, n_staged, done, arg, err);
}

int
imsg_client_request_fd(struct imsg_client *c, uint32_t type, const void *req,
    size_t len, int req_fd, imsg_client_done_fn done, void *arg,
    struct qb_error *err)
{
	if (req_fd < 0)
		return qb_seterr(err, QB_E_INTERNAL,
		    "%s: request %u without its fd", c->peer.name, type);
	return submit(c, type, req, len, req_fd, NULL, 0, done, arg, err);
}

struct waiter {
	bool done;
	int rc;
	void *res;
	size_t res_len;
	int fd;
	struct qb_error err;
};

static void
wait_done(
    void *arg, const void *res, size_t len, int fd, const struct qb_error *err)
{
	struct waiter *w = arg;

	w->done = true;
	if (res == NULL) {
		w->err = *err;
		w->rc = -1;
		return;
	}
	if (w->res != NULL && len == w->res_len && len > 0)
		memcpy(w->res, res, len);
	w->fd = fd;
	w->rc = 0;
}

/* A blocking call that gives up must not leave its stack frame pending. */
static void
forget(struct imsg_client *c, struct waiter *w)
{
	struct pending *p;

	TAILQ_FOREACH(p, &c->pending, entry)
	if (p->arg == w) {
		TAILQ_REMOVE(&c->pending, p, entry);
		free(p);
		return;
	}
}

/* One step of waiting: the loop's when attached, else poll the socket. */
static int
wait_step(struct imsg_client *c, int timeout_ms)
{
	struct pollfd pfd;

	if (c->loop != NULL)
		return evloop_run_once(c->loop, timeout_ms);
	pfd.fd = c->ibuf.fd;
	pfd.events = POLLIN | (imsg_client_want_write(c) ? POLLOUT : 0);
	if (poll(&pfd, 1, timeout_ms) == -1)
		return -1;
	if (pfd.revents & POLLOUT)
		imsg_client_write(c);
	if (pfd.revents & (POLLIN | POLLHUP | POLLERR))
		imsg_client_read(c);
	return 0;
}

/* The next wait: a second at most, less when the deadline is nearer. */
static int
wait_ms(uint64_t limit, uint64_t deadline)
{
	uint64_t now = evloop_now_ns();

	if (limit == 0 || deadline - now >= 1000 * NS_PER_MS)
		return 1000;
	return (int)((deadline - now) / NS_PER_MS) + 1;
}

/* imsg_client_call with the request's own fd (-1: none). */
static int
call(struct imsg_client *c, uint32_t type, const void *req, size_t len,
    int req_fd, const struct imsg_client_staged *staged, size_t n_staged,
    void *res, size_t res_len, int *fd, struct qb_error *err)
{
	struct waiter w = {.res = res, .res_len = res_len, .fd = -1};
	const struct imsg_client_rpc *rpc = rpc_find(c, type);
	uint64_t limit = c->peer.call_timeout_ms * NS_PER_MS;
	uint64_t deadline = evloop_now_ns() + limit;

	if (fd != NULL)
		*fd = -1;
	if (rpc != NULL && rpc->res_len != res_len)
		return qb_seterr(err, QB_E_INTERNAL,
		    "%s: request %u: reply buffer of %zu bytes", c->peer.name,
		    type, res_len);
	if (submit(c, type, req, len, req_fd, staged, n_staged, wait_done, &w,
	        err) == -1)
		return -1;
	while (!w.done) {
		if (limit > 0 && evloop_now_ns() >= deadline) {
			forget(c, &w);
			return qb_seterr(err, QB_E_DEADLINE,
			    "%s did not answer", c->peer.name);
		}
		if (wait_step(c, wait_ms(limit, deadline)) == -1 &&
		    errno != EINTR) {
			forget(c, &w);
			return qb_seterr(err, QB_E_INTERNAL, "%s: wait: %s",
			    c->peer.name, strerror(errno));
		}
	}
	if (w.rc == -1) {
		if (err != NULL)
			*err = w.err;
		errno = EIO;
		return -1;
	}
	if (fd != NULL)
		*fd = w.fd;
	else if (w.fd != -1)
		close(w.fd);
	return 0;
}

int
imsg_client_call(struct imsg_client *c, uint32_t type, const void *req,
    size_t len, const struct imsg_client_staged *staged, size_t n_staged,
    void *res, size_t res_len, int *fd, struct qb_error *err)
{
	return call(
	    c, type, req, len, -1, staged, n_staged, res, res_len, fd, err);
}

int
imsg_client_call_fd(struct imsg_client *c, uint32_t type, const void *req,
    size_t len, int req_fd, void *res, size_t res_len, struct qb_error *err)
{
	if (req_fd < 0)
		return qb_seterr(err, QB_E_INTERNAL,
		    "%s: request %u without its fd", c->peer.name, type);
	return call(
	    c, type, req, len, req_fd, NULL, 0, res, res_len, NULL, err);
}
