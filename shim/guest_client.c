/*
 * Host-side guest API client (shim/guest_client.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sys/random.h>

#include "lib/chan.h"
#include "lib/chan_rpc.h"
#include "lib/evloop.h"
#include "lib/log.h"
#include "shim/guest_client.h"

struct call {
	struct call *next;
	struct guest_client *gc;
	uint32_t sid;
	const ProtobufCMessageDescriptor *resp_desc;
	guest_call_cb cb; /* NULL once timed out: the late answer is dropped */
	void *arg;
	struct ev_timer *timer;
	uint64_t sent_ns; /* for the debug log's round-trip time */
	char method[32];
};

struct guest_client {
	struct evloop *loop;
	struct chan *ch;
	struct ev_io *io;
	struct ev_timer *ready_timer;
	const struct guest_client_ops *ops;
	void *arg;
	bool ready;
	bool dead;
	uint32_t next_sid;    /* ttrpc request ids: odd, increasing */
	uint32_t next_stream; /* stdio stream ids */
	struct call *calls;
	/* OOM rate limit (GUEST_OOM_*): tokens, last refill, drops. */
	unsigned oom_tokens;
	uint64_t oom_refill_ns;
	unsigned long oom_dropped;
};

static void
call_unlink(struct guest_client *gc, struct call *c)
{
	struct call **pp;

	for (pp = &gc->calls; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			return;
		}
	}
}

static void
call_finish(
    struct call *c, const struct qb_error *err, const ProtobufCMessage *resp)
{
	guest_call_cb cb = c->cb;

	evloop_timer_del(c->timer);
	c->timer = NULL;
	c->cb = NULL;
	if (cb != NULL)
		cb(c->gc, err, resp, c->arg);
}

static void
die(struct guest_client *gc, const char *why)
{
	struct qb_error err;
	struct call *c;

	if (gc->dead)
		return;
	gc->dead = true;
	log_warnx("%s: guest channel: %s", __func__, why);
	evloop_io_del(gc->io);
	gc->io = NULL;
	evloop_timer_del(gc->ready_timer);
	gc->ready_timer = NULL;
	chan_fail(gc->ch, EPIPE);
	qb_seterr(&err, QB_E_UNAVAILABLE, "guest: %s", why);
	while ((c = gc->calls) != NULL) {
		gc->calls = c->next;
		call_finish(c, &err, NULL);
		free(c);
	}
	if (gc->ops->on_dead != NULL)
		gc->ops->on_dead(gc, why, gc->arg);
}

static int
on_response(
    struct chan *ch, uint32_t sid, const uint8_t *p, size_t n, void *arg)
{
	struct guest_client *gc = arg;
	struct chan_rpc_resp r;
	struct qb_error err = {0};
	ProtobufCMessage *resp = NULL;
	struct call *c;

	(void)ch;
	for (c = gc->calls; c != NULL; c = c->next)
		if (c->sid == sid)
			break;
	if (c == NULL || chan_rpc_resp_decode(p, n, &r) == -1)
		return -1;
	call_unlink(gc, c);
	log_debug("%s: %s: %llu us", __func__, c->method,
	    (unsigned long long)(evloop_now_ns() - c->sent_ns) / 1000);
	if (r.code != 0) {
		if (r.code < 0 || r.code > 16)
			goto bad;
		qb_seterr(&err, r.code, "guest %s: %.*s", c->method,
		    (int)(r.msg_len > 900 ? 900 : r.msg_len),
		    r.msg ? r.msg : "");
	} else if (c->resp_desc != NULL) {
		resp = protobuf_c_message_unpack(c->resp_desc, NULL,
		    r.payload_len, r.payload ? r.payload : (const uint8_t *)"");
		if (resp == NULL)
			goto bad;
	}
	chan_rpc_resp_free(&r);
	call_finish(c, &err, resp);
	if (resp != NULL)
		protobuf_c_message_free_unpacked(resp, NULL);
	free(c);
	return 0;
bad:
	chan_rpc_resp_free(&r);
	/*
	 * Back on the list: die() (our -1 is a violation) completes it with
	 * Unavailable and deletes its timer; freeing it here left the caller
	 * waiting forever and the timer pointing at freed memory.
	 */
	c->next = gc->calls;
	gc->calls = c;
	return -1;
}

static int
valid_str(const char *s, size_t max)
{
	return s != NULL && strnlen(s, max + 1) <= max;
}

/* A token bucket: true when this OOM event may reach the owner. */
static bool
oom_admit(struct guest_client *gc)
{
	const uint64_t period = 1000000000ull / GUEST_OOM_PER_SEC;
	uint64_t now = evloop_now_ns(), add;

	add = (now - gc->oom_refill_ns) / period;
	if (add > 0) {
		gc->oom_tokens = add >= GUEST_OOM_BURST - gc->oom_tokens
		                     ? GUEST_OOM_BURST
		                     : gc->oom_tokens + (unsigned)add;
		gc->oom_refill_ns += add * period;
	}
	if (gc->oom_tokens == 0) {
		if (gc->oom_dropped++ == 0)
			log_warnx("%s: the guest sends OOM events faster than "
			          "%d/s; dropping the excess",
			    __func__, GUEST_OOM_PER_SEC);
		return false;
	}
	gc->oom_tokens--;
	if (gc->oom_dropped > 0) {
		log_warnx(
		    "%s: %lu OOM events dropped", __func__, gc->oom_dropped);
		gc->oom_dropped = 0;
	}
	return true;
}

static int
on_event(struct chan *ch, const uint8_t *p, size_t n, void *arg)
{
	struct guest_client *gc = arg;
	Qemubox__Guest__V1__Event *ev;
	int rc = 0;

	(void)ch;
	if ((ev = qemubox__guest__v1__event__unpack(NULL, n, p)) == NULL)
		return -1;
	switch (ev->kind_case) {
	case QEMUBOX__GUEST__V1__EVENT__KIND_READY:
		if (gc->ready) {
			rc = -1;
			break;
		}
		gc->ready = true;
		evloop_timer_del(gc->ready_timer);
		gc->ready_timer = NULL;
		if (gc->ops->on_ready != NULL)
			gc->ops->on_ready(gc, ev->ready->boot_ms, gc->arg);
		break;
	case QEMUBOX__GUEST__V1__EVENT__KIND_EXIT:
		if (!gc->ready || !valid_str(ev->exit->id, 128) ||
		    !valid_str(ev->exit->exec_id, 128)) {
			rc = -1;
			break;
		}
		if (gc->ops->on_exit != NULL)
			gc->ops->on_exit(gc, ev->exit->id, ev->exit->exec_id,
			    ev->exit->pid, ev->exit->exit_status, gc->arg);
		break;
	case QEMUBOX__GUEST__V1__EVENT__KIND_OOM:
		if (!gc->ready || !valid_str(ev->oom->id, 128)) {
			rc = -1;
			break;
		}
		if (gc->ops->on_oom != NULL && oom_admit(gc))
			gc->ops->on_oom(gc, ev->oom->id, gc->arg);
		break;
	default:
		rc = -1;
		break;
	}
	qemubox__guest__v1__event__free_unpacked(ev, NULL);
	return rc;
}

static void
want_write(struct chan *ch, int on, void *arg)
{
	struct guest_client *gc = arg;

	(void)ch;
	if (gc->io != NULL)
		evloop_io_set(gc->io, EV_READ | (on ? EV_WRITE : 0));
}

static const struct chan_ops client_chan_ops = {
    .on_response = on_response,
    .on_event = on_event,
    .want_write = want_write,
};

static void
io_cb(struct ev_io *io, int fd, unsigned events, void *arg)
{
	struct guest_client *gc = arg;
	const char *rule;
	char why[128];

	(void)io;
	(void)fd;
	if ((events & EV_WRITE) && chan_flush(gc->ch) == -1) {
		snprintf(why, sizeof(why), "write: %s", strerror(errno));
		die(gc, why);
		return;
	}
	if (events & (EV_READ | EV_HUP | EV_ERR)) {
		if (chan_read(gc->ch) == -1) {
			if (errno == EPROTO) {
				/* Name the rule: the user's error says it. */
				rule = chan_violation(gc->ch);
				snprintf(why, sizeof(why),
				    "protocol violation%s%s", rule ? ": " : "",
				    rule ? rule : "");
				die(gc, why);
			} else if (errno == EPIPE)
				die(gc, "closed by the guest");
			else {
				snprintf(why, sizeof(why), "read: %s",
				    strerror(errno));
				die(gc, why);
			}
		}
	}
}

static void
ready_timeout(struct ev_timer *t, void *arg)
{
	struct guest_client *gc = arg;

	(void)t;
	gc->ready_timer = NULL; /* one-shot: freed by the loop */
	die(gc, "not ready in time");
}

struct guest_client *
guest_client_new(struct evloop *loop, int fd, uint64_t ready_timeout_ms,
    const struct guest_client_ops *ops, void *arg)
{
	struct guest_client *gc;

	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) == -1)
		return NULL;
	if ((gc = calloc(1, sizeof(*gc))) == NULL)
		return NULL;
	gc->loop = loop;
	gc->ops = ops;
	gc->arg = arg;
	gc->next_sid = 1;
	gc->next_stream = 1;
	gc->oom_tokens = GUEST_OOM_BURST;
	gc->oom_refill_ns = evloop_now_ns();
	if ((gc->ch = chan_new(fd, CHAN_HOST, &client_chan_ops, gc)) == NULL)
		goto fail;
	if ((gc->io = evloop_io_add(loop, fd, EV_READ, io_cb, gc)) == NULL)
		goto fail;
	if (ready_timeout_ms > 0 &&
	    (gc->ready_timer = evloop_timer_add(loop,
	         ready_timeout_ms * 1000000ull, 0, ready_timeout, gc)) == NULL)
		goto fail;
	return gc;
fail:
	guest_client_free(gc);
	return NULL;
}

void
guest_client_free(struct guest_client *gc)
{
	struct call *c;

	if (gc == NULL)
		return;
	while ((c = gc->calls) != NULL) {
		gc->calls = c->next;
		evloop_timer_del(c->timer);
		free(c);
	}
	evloop_io_del(gc->io);
	evloop_timer_del(gc->ready_timer);
	chan_free(gc->ch);
	free(gc);
}

void
guest_client_cancel(struct guest_client *gc, const void *arg)
{
	struct call *c;

	for (c = gc->calls; c != NULL; c = c->next)
		if (c->arg == arg)
			c->cb = NULL;
}

void
guest_client_restored(struct guest_client *gc)
{
	gc->ready = true;
	evloop_timer_del(gc->ready_timer);
	gc->ready_timer = NULL;
}

int
guest_client_set_identity(
    struct guest_client *gc, uint64_t timeout_ms, guest_call_cb cb, void *arg)
{
	Qemubox__Guest__V1__SetIdentityRequest req;
	uint8_t seed[32];
	struct timespec ts;
	int rc;

	if (getrandom(seed, sizeof(seed), 0) != (ssize_t)sizeof(seed))
		return -1;
	clock_gettime(CLOCK_REALTIME, &ts);
	qemubox__guest__v1__set_identity_request__init(&req);
	req.seed.data = seed;
	req.seed.len = sizeof(seed);
	req.realtime_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
	rc = guest_call(gc, "SetIdentity", &req.base,
	    &qemubox__guest__v1__set_identity_response__descriptor, timeout_ms,
	    cb, arg);
	explicit_bzero(seed, sizeof(seed));
	return rc;
}

bool
guest_client_ready(const struct guest_client *gc)
{
	return gc->ready && !gc->dead;
}

struct chan *
guest_client_chan(struct guest_client *gc)
{
	return gc->ch;
}

uint32_t
guest_stream_id(struct guest_client *gc)
{
	uint32_t id;

	do {
		id = gc->next_stream++;
		if (gc->next_stream == 0)
			gc->next_stream = 1;
	} while (id == 0 || chan_stream_find(gc->ch, id) != NULL);
	return id;
}

static void
call_timeout(struct ev_timer *t, void *arg)
{
	struct call *c = arg;
	struct qb_error err;

	(void)t;
	c->timer = NULL; /* one-shot: freed by the loop */
	qb_seterr(
	    &err, QB_E_DEADLINE, "guest %s: no answer in time", c->method);
	/* The entry stays (cb NULL) so a late answer is not a violation. */
	call_finish(c, &err, NULL);
}

int
guest_call(struct guest_client *gc, const char *method,
    const ProtobufCMessage *req, const ProtobufCMessageDescriptor *resp_desc,
    uint64_t timeout_ms, guest_call_cb cb, void *arg)
{
	struct call *c;
	uint8_t *buf = NULL;
	size_t n = 0;

	if (gc->dead) {
		errno = EPIPE;
		return -1;
	}
	if (gc->next_sid >= 0x7fffffff) {
		errno = EOVERFLOW;
		return -1;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return -1;
	if (req != NULL) {
		n = protobuf_c_message_get_packed_size(req);
		if ((buf = malloc(n ? n : 1)) == NULL)
			goto fail;
		protobuf_c_message_pack(req, buf);
	}
	c->gc = gc;
	c->sid = gc->next_sid;
	c->resp_desc = resp_desc;
	c->cb = cb;
	c->arg = arg;
	c->sent_ns = evloop_now_ns();
	snprintf(c->method, sizeof(c->method), "%s", method);
	if (timeout_ms > 0 &&
	    (c->timer = evloop_timer_add(gc->loop, timeout_ms * 1000000ull, 0,
	         call_timeout, c)) == NULL)
		goto fail;
	if (chan_rpc_send_request(
	        gc->ch, c->sid, GUEST_SERVICE, method, buf, n) == -1)
		goto fail;
	gc->next_sid += 2;
	c->next = gc->calls;
	gc->calls = c;
	free(buf);
	return 0;
fail:
	evloop_timer_del(c->timer);
	free(c);
	free(buf);
	return -1;
}
