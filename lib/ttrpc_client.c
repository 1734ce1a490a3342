#include "lib/ttrpc_int.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/unix_addr.h"

static struct ttrpc_pending *
pending_find(struct ttrpc_conn *c, uint32_t sid)
{
	struct ttrpc_pending *p;

	TAILQ_FOREACH(p, &c->pending, entry)
	if (p->sid == sid)
		return p;
	return NULL;
}

/* Remove p and run its callback once; the connection stays alive across
 * the callback even if it closes it. */
static void
pending_finish(struct ttrpc_pending *p, const struct ttrpc_result *res)
{
	struct ttrpc_conn *c = p->conn;

	TAILQ_REMOVE(&c->pending, p, entry);
	evloop_timer_del(p->timer);
	c->busy++;
	p->cb(res, p->arg);
	free(p);
	ttrpc_conn_unbusy(c);
}

static void
pending_fail(struct ttrpc_pending *p, int code, const char *msg)
{
	struct ttrpc_result res;

	memset(&res, 0, sizeof(res));
	res.code = code;
	res.message = msg;
	pending_finish(p, &res);
}

static void
pending_timeout_cb(struct ev_timer *t, void *arg)
{
	struct ttrpc_pending *p = arg;

	(void)t;
	p->timer = NULL; /* freed by the loop after this callback */
	pending_fail(p, QB_E_DEADLINE, "context deadline exceeded");
}

void
ttrpc_client_response(
    struct ttrpc_conn *c, const struct ttrpc_hdr *h, const uint8_t *data)
{
	struct ttrpc_pending *p;
	struct ttrpc_result res;
	Ttrpc__Response *resp;

	if ((p = pending_find(c, h->stream_id)) == NULL) {
		/* Late answer to a call that timed out or was abandoned. */
		log_debug("%s: no call on stream %u", __func__, h->stream_id);
		return;
	}
	if ((resp = ttrpc__response__unpack(NULL, h->len, data)) == NULL) {
		pending_fail(p, QB_E_INTERNAL, "unmarshal response");
		return;
	}
	memset(&res, 0, sizeof(res));
	if (resp->status != NULL) {
		res.code = resp->status->code;
		res.message = resp->status->message;
	}
	res.payload = resp->payload.data;
	res.len = resp->payload.len;
	pending_finish(p, &res);
	ttrpc__response__free_unpacked(resp, NULL);
}

void
ttrpc_client_oversized(struct ttrpc_conn *c, uint32_t sid)
{
	struct ttrpc_pending *p;

	if ((p = pending_find(c, sid)) != NULL)
		pending_fail(
		    p, QB_E_EXHAUSTED, "response exceeds maximum size");
}

void
ttrpc_client_fail_all(struct ttrpc_conn *c)
{
	struct ttrpc_pending *p;

	while ((p = TAILQ_FIRST(&c->pending)) != NULL)
		pending_fail(p, QB_E_UNAVAILABLE, "ttrpc: closed");
}

/* Serialize a ttrpc.Request for req. Caller frees *out. */
static int
encode_request(const char *service, const char *method,
    const ProtobufCMessage *req, uint64_t timeout_ns, const struct ttrpc_kv *md,
    size_t nmd, uint8_t **out, size_t *outlen)
{
	uint8_t *payload = NULL;
	size_t plen = 0;
	int rc;

	if (req != NULL && (payload = ttrpc_msg_pack(req, &plen)) == NULL)
		return -1;
	rc = ttrpc_msg_request(
	    service, method, payload, plen, timeout_ns, md, nmd, out, outlen);
	free(payload);
	return rc;
}

uint32_t
ttrpc_call_start(struct ttrpc_conn *c, const char *service, const char *method,
    const ProtobufCMessage *req, uint64_t timeout_ns, const struct ttrpc_kv *md,
    size_t nmd, ttrpc_reply_fn cb, void *arg)
{
	struct ttrpc_pending *p;
	uint8_t *buf = NULL;
	size_t n;
	uint32_t sid;

	if (c->closed) {
		errno = EPIPE;
		return 0;
	}
	if (cb == NULL) {
		errno = EINVAL;
		return 0;
	}
	/* Odd and strictly increasing for the life of the connection
	 * (ttrpc >= 1.2 servers refuse anything else). */
	if (c->next_sid > UINT32_MAX - 2) {
		errno = ERANGE;
		return 0;
	}
	if (encode_request(
	        service, method, req, timeout_ns, md, nmd, &buf, &n) == -1)
		return 0;
	if ((p = calloc(1, sizeof(*p))) == NULL) {
		free(buf);
		return 0;
	}
	sid = c->next_sid;
	p->sid = sid;
	p->cb = cb;
	p->arg = arg;
	p->conn = c;
	if (timeout_ns > 0) {
		p->timer = evloop_timer_add(
		    c->loop, timeout_ns, 0, pending_timeout_cb, p);
		if (p->timer == NULL) {
			free(p);
			free(buf);
			return 0;
		}
	}
	/* Registered before sending: a flush error closes the connection
	 * and must find the call to fail it. */
	TAILQ_INSERT_TAIL(&c->pending, p, entry);
	c->next_sid += 2;
	c->busy++;
	if (ttrpc_conn_queue(c, sid, TTRPC_T_REQUEST, 0, buf, n) == -1 &&
	    !c->closed) {
		/* Not sent and the connection is fine (EMSGSIZE): no call.
		 * If it closed instead, the callback already ran. */
		int e = errno;
		TAILQ_REMOVE(&c->pending, p, entry);
		evloop_timer_del(p->timer);
		free(p);
		free(buf);
		ttrpc_conn_unbusy(c);
		errno = e;
		return 0;
	}
	free(buf);
	ttrpc_conn_unbusy(c);
	return sid;
}

void
ttrpc_call_abandon(struct ttrpc_conn *c, uint32_t stream_id)
{
	struct ttrpc_pending *p;

	if ((p = pending_find(c, stream_id)) == NULL)
		return;
	TAILQ_REMOVE(&c->pending, p, entry);
	evloop_timer_del(p->timer);
	free(p);
}

/* blocking one-shot call */

static int
poll_ms(uint64_t deadline)
{
	uint64_t now;

	if (deadline == 0)
		return -1;
	now = evloop_now_ns();
	if (now >= deadline)
		return 0;
	return (int)((deadline - now + 999999) / 1000000);
}

int
ttrpc_call_sync(int fd, const char *service, const char *method,
    const ProtobufCMessage *req, uint64_t timeout_ns, const struct ttrpc_kv *md,
    size_t nmd, const ProtobufCMessageDescriptor *out, ProtobufCMessage **resp,
    struct qb_error *err)
{
	struct ttrpc_writer w;
	struct ttrpc_reader r;
	struct ttrpc_frame f;
	struct pollfd pfd;
	Ttrpc__Response *rs = NULL;
	uint64_t deadline = 0;
	uint8_t *buf = NULL;
	size_t n;
	int rc = -1, wdone = 0, got = 0;

	ttrpc_writer_init(&w, 0);
	ttrpc_reader_init(&r, 0);
	if (timeout_ns > 0 && timeout_ns < UINT64_MAX - evloop_now_ns())
		deadline = evloop_now_ns() + timeout_ns;
	if (encode_request(
	        service, method, req, timeout_ns, md, nmd, &buf, &n) == -1) {
		qb_seterr(
		    err, QB_E_INTERNAL, "encode request: %s", strerror(errno));
		goto out;
	}
	if (ttrpc_writer_queue(&w, 1, TTRPC_T_REQUEST, 0, buf, n) == -1) {
		qb_seterr(err, QB_E_EXHAUSTED, "request: %s", strerror(errno));
		goto out;
	}
	while (!got) {
		pfd.fd = fd;
		pfd.events = wdone ? POLLIN : POLLIN | POLLOUT;
		pfd.revents = 0;
		int pr = poll(&pfd, 1, poll_ms(deadline));
		if (pr == -1 && errno == EINTR)
			continue;
		if (pr == -1) {
			qb_seterr(
			    err, QB_E_UNAVAILABLE, "poll: %s", strerror(errno));
			goto out;
		}
		if (pr == 0) {
			qb_seterr(err, QB_E_DEADLINE,
			    "%s/%s: deadline exceeded", service, method);
			goto out;
		}
		if (!wdone && (pfd.revents & (POLLOUT | POLLERR | POLLHUP))) {
			int wr = ttrpc_writer_flush(&w, fd);
			if (wr == -1) {
				qb_seterr(err, QB_E_UNAVAILABLE, "write: %s",
				    strerror(errno));
				goto out;
			}
			wdone = wr == 1;
		}
		if (!(pfd.revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		ssize_t rd = ttrpc_reader_fill(&r, fd);
		if (rd == 0 ||
		    (rd == -1 && errno != EAGAIN && errno != EINTR)) {
			qb_seterr(err, QB_E_UNAVAILABLE, "ttrpc: closed");
			goto out;
		}
		while (!got && ttrpc_reader_next(&r, &f) == 1) {
			if (f.hdr.type != TTRPC_T_RESPONSE ||
			    f.hdr.stream_id != 1)
				continue;
			if (f.oversized) {
				qb_seterr(err, QB_E_EXHAUSTED,
				    "response of %u bytes too large",
				    f.hdr.len);
				goto out;
			}
			rs = ttrpc__response__unpack(NULL, f.hdr.len, f.data);
			if (rs == NULL) {
				qb_seterr(
				    err, QB_E_INTERNAL, "unmarshal response");
				goto out;
			}
			got = 1;
		}
	}
	if (rs->status != NULL && rs->status->code != 0) {
		qb_seterr(err, rs->status->code, "%s", rs->status->message);
		goto out;
	}
	if (out != NULL && resp != NULL) {
		*resp = protobuf_c_message_unpack(
		    out, NULL, rs->payload.len, rs->payload.data);
		if (*resp == NULL) {
			qb_seterr(
			    err, QB_E_INTERNAL, "unmarshal %s", out->name);
			goto out;
		}
	}
	rc = 0;
out:
	if (rs != NULL)
		ttrpc__response__free_unpacked(rs, NULL);
	free(buf);
	ttrpc_writer_free(&w);
	ttrpc_reader_free(&r);
	return rc;
}

int
ttrpc_dial_unix(const char *path)
{
	struct sockaddr_un sun;
	int fd;

	if (strncmp(path, "unix://", 7) == 0)
		path += 7;
	if (unix_addr(&sun, path) == -1)
		return -1;
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}
