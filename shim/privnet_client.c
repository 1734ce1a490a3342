#include "shim/privnet_client.h"

#include <arpa/inet.h>
#include <poll.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "imsg/imsg.h"
#include "lib/log.h"

struct pending {
	TAILQ_ENTRY(pending) entry;
	uint32_t id;
	uint32_t type; /* the request */
	privnet_setup_cb setup;
	privnet_done_cb done;
	privnet_status_cb status;
	void *arg;
};

struct privnet_client {
	struct imsgbuf ibuf;
	TAILQ_HEAD(, pending) pending;
	uint32_t next_id;
	int dead;
};

struct privnet_client *
privnet_client_new(int fd)
{
	struct privnet_client *c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	imsg_init(&c->ibuf, fd);
	TAILQ_INIT(&c->pending);
	c->next_id = 1;
	return c;
}

void
privnet_client_free(struct privnet_client *c)
{
	struct pending *p;

	if (c == NULL)
		return;
	while ((p = TAILQ_FIRST(&c->pending)) != NULL) {
		TAILQ_REMOVE(&c->pending, p, entry);
		free(p);
	}
	imsg_clear(&c->ibuf);
	close(c->ibuf.fd);
	free(c);
}

int
privnet_client_fd(const struct privnet_client *c)
{
	return c->ibuf.fd;
}

int
privnet_client_want_write(const struct privnet_client *c)
{
	return !c->dead && c->ibuf.w.queued > 0;
}

static void
fail_pending(struct pending *p, const struct qb_error *err)
{
	if (p->setup)
		p->setup(p->arg, NULL, -1, err);
	else if (p->done)
		p->done(p->arg, err);
	else if (p->status)
		p->status(p->arg, NULL, err);
	free(p);
}

static void
kill_conn(struct privnet_client *c, const char *why)
{
	struct qb_error err;
	struct pending *p;

	if (!c->dead)
		log_warnx(
		    "privnet_client: %s; connection to privnet closed", why);
	c->dead = 1;
	qb_seterr(&err, QB_E_UNAVAILABLE, "qemubox-privnet: %s", why);
	while ((p = TAILQ_FIRST(&c->pending)) != NULL) {
		TAILQ_REMOVE(&c->pending, p, entry);
		fail_pending(p, &err);
	}
}

int
privnet_client_write(struct privnet_client *c)
{
	if (c->dead)
		return -1;
	if (c->ibuf.w.queued > 0 && msgbuf_write(&c->ibuf.w) == -1 &&
	    errno != EAGAIN && errno != EINTR) {
		kill_conn(c, "write failed");
		return -1;
	}
	return 0;
}

static int
id_field(char *dst, size_t dstlen, const char *s, const char *what,
    struct qb_error *err)
{
	if (strlen(s) >= dstlen)
		return qb_seterr(err, QB_E_INVALID,
		    "%s \"%s\" too long (max %zu)", what, s, dstlen - 1);
	memset(dst, 0, dstlen);
	memcpy(dst, s, strlen(s));
	return 0;
}

/*
 * Queue one request whose answer goes to cb's callback. From here on that
 * callback runs exactly once: already before this returns if the write
 * kills the connection (which frees the entry, so it is filled first).
 */
static int
request(struct privnet_client *c, uint32_t type, const void *data, size_t len,
    const struct pending *cb, struct qb_error *err)
{
	struct pending *p;

	if (c->dead)
		return qb_seterr(
		    err, QB_E_UNAVAILABLE, "qemubox-privnet is not running");
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return qb_seterr(err, QB_E_INTERNAL, "out of memory");
	p->id = c->next_id++;
	p->type = type;
	p->setup = cb->setup;
	p->done = cb->done;
	p->status = cb->status;
	p->arg = cb->arg;
	if (imsg_compose(&c->ibuf, type, p->id, 0, -1, data, len) == -1) {
		free(p);
		return qb_seterr(
		    err, QB_E_INTERNAL, "imsg_compose: %s", strerror(errno));
	}
	TAILQ_INSERT_TAIL(&c->pending, p, entry);
	privnet_client_write(c);
	return 0;
}

/* The requests that name only a sandbox. */
static int
id_request(struct privnet_client *c, uint32_t type, const char *sandbox_id,
    const struct pending *cb, struct qb_error *err)
{
	struct qb_net_id_req req;

	memset(&req, 0, sizeof(req));
	if (id_field(req.sandbox_id, sizeof(req.sandbox_id), sandbox_id,
	        "sandbox id", err) == -1)
		return -1;
	return request(c, type, &req, sizeof(req), cb, err);
}

int
privnet_net_setup_async(struct privnet_client *c, const char *sandbox_id,
    const char *netns_path_or_empty, privnet_setup_cb cb, void *arg,
    struct qb_error *err)
{
	struct qb_net_setup_req req;
	struct pending p = {.setup = cb, .arg = arg};

	memset(&req, 0, sizeof(req));
	if (id_field(req.sandbox_id, sizeof(req.sandbox_id), sandbox_id,
	        "sandbox id", err) == -1 ||
	    id_field(req.netns_path, sizeof(req.netns_path),
	        netns_path_or_empty ? netns_path_or_empty : "", "netns path",
	        err) == -1)
		return -1;
	return request(c, IMSG_NET_SETUP_REQ, &req, sizeof(req), &p, err);
}

int
privnet_net_teardown_async(struct privnet_client *c, const char *sandbox_id,
    privnet_done_cb cb, void *arg, struct qb_error *err)
{
	struct pending p = {.done = cb, .arg = arg};

	return id_request(c, IMSG_NET_TEARDOWN_REQ, sandbox_id, &p, err);
}

int
privnet_net_status_async(struct privnet_client *c, const char *sandbox_id,
    privnet_status_cb cb, void *arg, struct qb_error *err)
{
	struct pending p = {.status = cb, .arg = arg};

	return id_request(c, IMSG_NET_STATUS_REQ, sandbox_id, &p, err);
}

/* One answer: must be for the oldest request, of its type, exact size. */
static int
handle(struct privnet_client *c, struct imsg *imsg)
{
	struct pending *p = TAILQ_FIRST(&c->pending);
	struct qb_imsg_error e;
	struct qb_net_result res;
	struct qb_net_status st;
	struct qb_net_id_req ack;
	struct qb_error err;
	uint32_t type = imsg_get_type(imsg);
	int fd = imsg_get_fd(imsg);

	if (p == NULL || imsg_get_id(imsg) != p->id)
		goto bad;
	if (type == IMSG_ERROR) {
		if (qb_imsg_get_struct(imsg, &e, sizeof(e)) == -1 ||
		    e.req_type != p->type ||
		    qb_imsg_check_strfield(e.msg, sizeof(e.msg)) < 0 ||
		    fd != -1)
			goto bad;
		TAILQ_REMOVE(&c->pending, p, entry);
		qb_seterr(&err, e.code ? e.code : QB_E_INTERNAL, "%s", e.msg);
		fail_pending(p, &err);
		return 0;
	}
	switch (p->type) {
	case IMSG_NET_SETUP_REQ:
		if (type != IMSG_NET_SETUP_RES || fd == -1 ||
		    qb_imsg_get_struct(imsg, &res, sizeof(res)) == -1 ||
		    qb_imsg_check_strfield(res.tap_name, sizeof(res.tap_name)) <
		        0 ||
		    res.n_ips > QB_NET_MAX_IPS ||
		    res.n_routes > QB_NET_MAX_ROUTES ||
		    res.n_dns > QB_NET_MAX_DNS ||
		    res.n_search > QB_NET_MAX_SEARCH)
			goto bad;
		TAILQ_REMOVE(&c->pending, p, entry);
		p->setup(p->arg, &res, fd, NULL);
		break;
	case IMSG_NET_TEARDOWN_REQ:
		if (type != IMSG_NET_TEARDOWN_RES || fd != -1 ||
		    qb_imsg_get_struct(imsg, &ack, sizeof(ack)) == -1)
			goto bad;
		TAILQ_REMOVE(&c->pending, p, entry);
		p->done(p->arg, NULL);
		break;
	case IMSG_NET_STATUS_REQ:
		if (type != IMSG_NET_STATUS_RES || fd != -1 ||
		    qb_imsg_get_struct(imsg, &st, sizeof(st)) == -1)
			goto bad;
		TAILQ_REMOVE(&c->pending, p, entry);
		p->status(p->arg, &st, NULL);
		break;
	default:
		goto bad;
	}
	free(p);
	return 0;
bad:
	if (fd != -1)
		close(fd);
	return -1;
}

int
privnet_client_read(struct privnet_client *c)
{
	struct imsg imsg;
	ssize_t n;

	if (c->dead)
		return -1;
	if ((n = imsg_read(&c->ibuf)) == -1) {
		if (errno == EAGAIN || errno == EINTR)
			return 0;
		kill_conn(c, "read failed");
		return -1;
	}
	if (n == 0) {
		kill_conn(c, "privnet exited");
		return -1;
	}
	for (;;) {
		if ((n = imsg_get(&c->ibuf, &imsg)) == -1) {
			kill_conn(c, "malformed message");
			return -1;
		}
		if (n == 0)
			break;
		if (handle(c, &imsg) == -1) {
			imsg_free(&imsg);
			kill_conn(c, "unexpected answer");
			return -1;
		}
		imsg_free(&imsg);
	}
	return 0;
}

struct waiter {
	int done;
	struct qb_error err;
	int failed;
	struct qb_net_result *res;
	struct qb_net_status *st;
	int tap_fd;
};

/* Record the end of a blocking call; 0 when it succeeded. */
static int
wait_end(struct waiter *w, const struct qb_error *err)
{
	w->done = 1;
	if (err == NULL)
		return 0;
	w->failed = 1;
	w->err = *err;
	return -1;
}

static void
wait_setup(void *arg, const struct qb_net_result *res, int tap_fd,
    const struct qb_error *err)
{
	struct waiter *w = arg;

	if (wait_end(w, err) == 0) {
		*w->res = *res;
		w->tap_fd = tap_fd;
	}
}

static void
wait_done(void *arg, const struct qb_error *err)
{
	(void)wait_end(arg, err);
}

static void
wait_status(
    void *arg, const struct qb_net_status *st, const struct qb_error *err)
{
	struct waiter *w = arg;

	if (wait_end(w, err) == 0)
		*w->st = *st;
}

static int
wait_for(struct privnet_client *c, struct waiter *w, struct qb_error *err)
{
	struct pollfd pfd;

	while (!w->done) {
		pfd.fd = c->ibuf.fd;
		pfd.events =
		    POLLIN | (privnet_client_want_write(c) ? POLLOUT : 0);
		if (poll(&pfd, 1, -1) == -1) {
			if (errno == EINTR)
				continue;
			return qb_seterr(
			    err, QB_E_INTERNAL, "poll: %s", strerror(errno));
		}
		if (pfd.revents & POLLOUT)
			privnet_client_write(c);
		if (pfd.revents & (POLLIN | POLLHUP | POLLERR))
			privnet_client_read(c);
	}
	if (w->failed) {
		if (err != NULL)
			*err = w->err;
		errno = EIO;
		return -1;
	}
	return 0;
}

int
privnet_net_setup(struct privnet_client *c, const char *sandbox_id,
    const char *netns_path_or_empty, struct qb_net_result *out, int *tap_fd,
    struct qb_error *err)
{
	struct waiter w = {0};

	w.res = out;
	w.tap_fd = -1;
	*tap_fd = -1;
	if (privnet_net_setup_async(c, sandbox_id, netns_path_or_empty,
	        wait_setup, &w, err) == -1 ||
	    wait_for(c, &w, err) == -1)
		return -1;
	*tap_fd = w.tap_fd;
	return 0;
}

int
privnet_net_teardown(
    struct privnet_client *c, const char *sandbox_id, struct qb_error *err)
{
	struct waiter w = {0};

	if (privnet_net_teardown_async(c, sandbox_id, wait_done, &w, err) == -1)
		return -1;
	return wait_for(c, &w, err);
}

int
privnet_net_status(struct privnet_client *c, const char *sandbox_id,
    struct qb_net_status *out, struct qb_error *err)
{
	struct waiter w = {0};

	w.st = out;
	if (privnet_net_status_async(c, sandbox_id, wait_status, &w, err) == -1)
		return -1;
	return wait_for(c, &w, err);
}

const char *
privnet_addr_str(
    const struct qb_net_addr *a, int with_prefix, char *buf, size_t len)
{
	char tmp[INET6_ADDRSTRLEN];

	buf[0] = '\0';
	if ((a->family != AF_INET && a->family != AF_INET6) ||
	    inet_ntop(a->family, a->addr, tmp, sizeof(tmp)) == NULL)
		return buf;
	if (with_prefix)
		snprintf(buf, len, "%s/%u", tmp, a->prefixlen);
	else
		snprintf(buf, len, "%s", tmp);
	return buf;
}
