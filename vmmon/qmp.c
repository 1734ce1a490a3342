#include "vmmon/qmp.h"

#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"

enum qmp_state { QMP_S_GREETING, QMP_S_CAPS, QMP_S_READY };

struct qmp_pending {
	uint64_t id;
	uint64_t deadline_ms;
	qmp_result_cb cb;
	void *arg;
	bool internal; /* qmp_capabilities: no user callback */
};

struct qmp {
	int fd;
	enum qmp_state state;
	struct qmp_callbacks cb;
	uint64_t next_id;
	/* Lines received but not yet complete. */
	char *in;
	size_t in_len, in_cap;
	/* Serialized commands; `held` ones wait for the handshake. */
	char *out;
	size_t out_len, out_off, out_cap;
	char *held;
	size_t held_len, held_cap;
	/* fds to send (SCM_RIGHTS) with the byte at out_fd_at[i] of out. */
	int out_fd[QMP_MAX_FDS];
	size_t out_fd_at[QMP_MAX_FDS];
	size_t nout_fd;
	struct qmp_pending pending[QMP_MAX_PENDING];
	size_t npending;
};

uint64_t
qmp_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- decoding: a pure function of one line, fuzzed ---- */

void
qmp_msg_release(struct qmp_msg *msg)
{
	if (msg->root != NULL)
		json_object_put(msg->root);
	memset(msg, 0, sizeof(*msg));
}

static int
get_id(json_object *root, struct qmp_msg *msg)
{
	json_object *id;
	int64_t v;

	if (!json_object_object_get_ex(root, "id", &id))
		return 0;
	/* We only ever send non-negative integer ids. */
	if (!json_object_is_type(id, json_type_int))
		return -1;
	v = json_object_get_int64(id);
	if (v < 0)
		return -1;
	msg->has_id = true;
	msg->id = (uint64_t)v;
	return 0;
}

static int
decode_greeting(json_object *q, struct qmp_msg *msg)
{
	json_object *v, *qemu, *n;

	msg->kind = QMP_MSG_GREETING;
	if (!json_object_is_type(q, json_type_object) ||
	    !json_object_object_get_ex(q, "version", &v) ||
	    !json_object_is_type(v, json_type_object) ||
	    !json_object_object_get_ex(v, "qemu", &qemu) ||
	    !json_object_is_type(qemu, json_type_object))
		return -1;
	if (!json_object_object_get_ex(qemu, "major", &n) ||
	    !json_object_is_type(n, json_type_int))
		return -1;
	msg->major = json_object_get_int(n);
	if (!json_object_object_get_ex(qemu, "minor", &n) ||
	    !json_object_is_type(n, json_type_int))
		return -1;
	msg->minor = json_object_get_int(n);
	return 0;
}

int
qmp_decode(const char *line, size_t len, struct qmp_msg *msg)
{
	struct json_tokener *tok = NULL;
	json_object *root = NULL, *v, *e;

	memset(msg, 0, sizeof(*msg));
	if (len == 0 || len > QMP_MAX_LINE)
		goto bad;
	if ((tok = json_tokener_new_ex(QMP_MAX_DEPTH)) == NULL)
		return -1;
	root = json_tokener_parse_ex(tok, line, (int)len);
	/* One complete object and nothing but whitespace after it. */
	if (root == NULL || json_tokener_get_error(tok) != json_tokener_success)
		goto bad;
	for (size_t i = json_tokener_get_parse_end(tok); i < len; i++)
		if (line[i] != ' ' && line[i] != '\t' && line[i] != '\r')
			goto bad;
	json_tokener_free(tok);
	tok = NULL;
	if (!json_object_is_type(root, json_type_object))
		goto bad;
	msg->root = root;

	if (json_object_object_get_ex(root, "QMP", &v)) {
		if (decode_greeting(v, msg) == -1)
			goto bad;
	} else if (json_object_object_get_ex(root, "return", &v)) {
		msg->kind = QMP_MSG_RETURN;
		msg->ret = v;
		if (get_id(root, msg) == -1)
			goto bad;
	} else if (json_object_object_get_ex(root, "error", &e)) {
		msg->kind = QMP_MSG_ERROR;
		if (!json_object_is_type(e, json_type_object) ||
		    !json_object_object_get_ex(e, "class", &v) ||
		    !json_object_is_type(v, json_type_string))
			goto bad;
		msg->err_class = json_object_get_string(v);
		msg->err_desc = "";
		if (json_object_object_get_ex(e, "desc", &v)) {
			if (!json_object_is_type(v, json_type_string))
				goto bad;
			msg->err_desc = json_object_get_string(v);
		}
		if (get_id(root, msg) == -1)
			goto bad;
	} else if (json_object_object_get_ex(root, "event", &v)) {
		msg->kind = QMP_MSG_EVENT;
		if (!json_object_is_type(v, json_type_string))
			goto bad;
		msg->event = json_object_get_string(v);
		if (json_object_object_get_ex(root, "data", &v)) {
			if (!json_object_is_type(v, json_type_object))
				goto bad;
			msg->data = v;
		}
	} else
		goto bad;
	return 0;
bad:
	if (tok != NULL)
		json_tokener_free(tok);
	if (msg->root == NULL && root != NULL)
		json_object_put(root);
	qmp_msg_release(msg);
	errno = EBADMSG;
	return -1;
}

/* ---- the connection ---- */

static int
buf_append(char **buf, size_t *len, size_t *cap, const char *data, size_t n)
{
	char *nb;
	size_t ncap;

	if (*len + n > *cap) {
		ncap = *cap ? *cap : 4096;
		while (ncap < *len + n)
			ncap *= 2;
		if ((nb = realloc(*buf, ncap)) == NULL)
			return -1;
		*buf = nb;
		*cap = ncap;
	}
	memcpy(*buf + *len, data, n);
	*len += n;
	return 0;
}

struct qmp *
qmp_new(int fd, const struct qmp_callbacks *cb)
{
	struct qmp *q;
	int fl;

	if ((q = calloc(1, sizeof(*q))) == NULL)
		return NULL;
	if ((fl = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1) {
		free(q);
		return NULL;
	}
	q->fd = fd;
	q->cb = *cb;
	q->next_id = 1;
	q->state = QMP_S_GREETING;
	return q;
}

static void
fail_all(struct qmp *q)
{
	struct qmp_result r = {.closed = true};
	struct qmp_pending p;

	while (q->npending > 0) {
		p = q->pending[0];
		memmove(&q->pending[0], &q->pending[1],
		    --q->npending * sizeof(q->pending[0]));
		if (!p.internal && p.cb != NULL)
			p.cb(p.arg, &r);
	}
}

void
qmp_free(struct qmp *q)
{
	if (q == NULL)
		return;
	fail_all(q);
	if (q->fd != -1)
		close(q->fd);
	while (q->nout_fd > 0)
		close(q->out_fd[--q->nout_fd]);
	free(q->in);
	free(q->out);
	free(q->held);
	free(q);
}

int
qmp_fd(const struct qmp *q)
{
	return q->fd;
}

bool
qmp_is_ready(const struct qmp *q)
{
	return q->state == QMP_S_READY;
}

short
qmp_poll_events(const struct qmp *q)
{
	return POLLIN | (q->out_len > q->out_off ? POLLOUT : 0);
}

static int
enqueue(struct qmp *q, const char *cmd, json_object *args, uint64_t timeout_ms,
    qmp_result_cb cb, void *arg, bool internal)
{
	json_object *o = NULL;
	struct qmp_pending *p;
	const char *s;
	int rc = -1;

	if (q->npending >= QMP_MAX_PENDING) {
		errno = EBUSY;
		goto out;
	}
	if ((o = json_object_new_object()) == NULL)
		goto out;
	if (json_object_object_add(o, "execute", json_object_new_string(cmd)))
		goto out;
	if (args != NULL) {
		if (json_object_object_add(o, "arguments", args))
			goto out;
		args = NULL;
	}
	if (json_object_object_add(
	        o, "id", json_object_new_int64((int64_t)q->next_id)))
		goto out;
	s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	if (s == NULL)
		goto out;
	/* Until qmp_capabilities is answered QEMU refuses other commands. */
	if (internal || q->state == QMP_S_READY) {
		if (buf_append(&q->out, &q->out_len, &q->out_cap, s,
		        strlen(s)) == -1 ||
		    buf_append(&q->out, &q->out_len, &q->out_cap, "\n", 1) ==
		        -1)
			goto out;
	} else {
		if (buf_append(&q->held, &q->held_len, &q->held_cap, s,
		        strlen(s)) == -1 ||
		    buf_append(&q->held, &q->held_len, &q->held_cap, "\n", 1) ==
		        -1)
			goto out;
	}
	p = &q->pending[q->npending++];
	p->id = q->next_id++;
	p->deadline_ms = qmp_now_ms() + timeout_ms;
	p->cb = cb;
	p->arg = arg;
	p->internal = internal;
	rc = 0;
out:
	if (args != NULL)
		json_object_put(args);
	if (o != NULL)
		json_object_put(o);
	return rc;
}

int
qmp_execute(struct qmp *q, const char *cmd, json_object *args,
    uint64_t timeout_ms, qmp_result_cb cb, void *arg)
{
	return enqueue(q, cmd, args, timeout_ms, cb, arg, false);
}

int
qmp_execute_fd(struct qmp *q, const char *cmd, json_object *args, int fd,
    uint64_t timeout_ms, qmp_result_cb cb, void *arg)
{
	size_t at = q->out_len;
	int dup_fd;

	/* Held commands would be sent later, without their fd. */
	if (q->state != QMP_S_READY || q->nout_fd >= QMP_MAX_FDS) {
		if (args != NULL)
			json_object_put(args);
		errno = EAGAIN;
		return -1;
	}
	if ((dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0)) == -1) {
		if (args != NULL)
			json_object_put(args);
		return -1;
	}
	if (enqueue(q, cmd, args, timeout_ms, cb, arg, false) == -1) {
		close(dup_fd);
		return -1;
	}
	q->out_fd[q->nout_fd] = dup_fd;
	q->out_fd_at[q->nout_fd] = at;
	q->nout_fd++;
	return 0;
}

/* Send out[out_off..end) with fd attached (one sendmsg). */
static ssize_t
send_with_fd(struct qmp *q, size_t end, int fd)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} u;
	struct iovec iov = {q->out + q->out_off, end - q->out_off};
	struct msghdr mh = {0};
	struct cmsghdr *c;

	memset(&u, 0, sizeof(u));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = u.buf;
	mh.msg_controllen = sizeof(u.buf);
	c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	return sendmsg(q->fd, &mh, MSG_NOSIGNAL);
}

static struct qmp_pending *
find_pending(struct qmp *q, uint64_t id, size_t *idx)
{
	size_t i;

	for (i = 0; i < q->npending; i++)
		if (q->pending[i].id == id) {
			*idx = i;
			return &q->pending[i];
		}
	return NULL;
}

static int
handle_msg(struct qmp *q, struct qmp_msg *m)
{
	struct qmp_result r;
	struct qmp_pending p, *pp;
	size_t idx;

	switch (m->kind) {
	case QMP_MSG_GREETING:
		if (q->state != QMP_S_GREETING)
			goto proto;
		log_debug("%s: QEMU %d.%d", __func__, m->major, m->minor);
		q->state = QMP_S_CAPS;
		return enqueue(
		    q, "qmp_capabilities", NULL, 10000, NULL, NULL, true);
	case QMP_MSG_EVENT:
		if (q->state != QMP_S_READY)
			goto proto;
		if (q->cb.event != NULL)
			q->cb.event(q->cb.arg, m->event, m->data);
		return 0;
	case QMP_MSG_RETURN:
	case QMP_MSG_ERROR:
		if (!m->has_id)
			goto proto;
		if ((pp = find_pending(q, m->id, &idx)) == NULL) {
			/* A reply after its command timed out: drop it. */
			if (m->id < q->next_id)
				return 0;
			goto proto;
		}
		p = *pp;
		memmove(&q->pending[idx], &q->pending[idx + 1],
		    (--q->npending - idx) * sizeof(q->pending[0]));
		if (p.internal) {
			if (m->kind != QMP_MSG_RETURN || q->state != QMP_S_CAPS)
				goto proto;
			q->state = QMP_S_READY;
			if (q->held_len > 0) {
				if (buf_append(&q->out, &q->out_len,
				        &q->out_cap, q->held,
				        q->held_len) == -1)
					return -1;
				q->held_len = 0;
			}
			if (q->cb.ready != NULL)
				q->cb.ready(q->cb.arg);
			return 0;
		}
		memset(&r, 0, sizeof(r));
		r.ok = m->kind == QMP_MSG_RETURN;
		r.ret = m->ret;
		r.err_class = m->err_class;
		r.err_desc = m->err_desc;
		if (p.cb != NULL)
			p.cb(p.arg, &r);
		return 0;
	}
proto:
	errno = EBADMSG;
	return -1;
}

static int
do_read(struct qmp *q)
{
	char buf[16384], *nl, *start;
	struct qmp_msg m;
	ssize_t n;
	size_t used, llen;

	n = read(q->fd, buf, sizeof(buf));
	if (n == -1)
		return (errno == EAGAIN || errno == EINTR) ? 0 : -1;
	if (n == 0) {
		errno = EPIPE;
		return -1;
	}
	if (buf_append(&q->in, &q->in_len, &q->in_cap, buf, (size_t)n) == -1)
		return -1;
	used = 0;
	while ((nl = memchr(q->in + used, '\n', q->in_len - used)) != NULL) {
		start = q->in + used;
		llen = (size_t)(nl - start);
		used += llen + 1;
		if (llen > 0 && start[llen - 1] == '\r')
			llen--;
		if (llen == 0)
			continue;
		if (qmp_decode(start, llen, &m) == -1) {
			log_warnx("%s: undecodable QMP message", __func__);
			return -1;
		}
		if (handle_msg(q, &m) == -1) {
			if (errno == EBADMSG)
				log_warnx(
				    "%s: unexpected QMP message", __func__);
			qmp_msg_release(&m);
			return -1;
		}
		qmp_msg_release(&m);
	}
	memmove(q->in, q->in + used, q->in_len - used);
	q->in_len -= used;
	if (q->in_len > QMP_MAX_LINE) {
		log_warnx("%s: QMP line over %d bytes", __func__, QMP_MAX_LINE);
		errno = EBADMSG;
		return -1;
	}
	return 0;
}

static int
do_write(struct qmp *q)
{
	size_t end;
	ssize_t n;

	while (q->out_off < q->out_len) {
		/* Stop before the next command that carries an fd. */
		end = q->out_len;
		if (q->nout_fd > 0 && q->out_fd_at[0] > q->out_off)
			end = q->out_fd_at[0];
		if (q->nout_fd > 0 && q->out_fd_at[0] == q->out_off) {
			end = q->nout_fd > 1 ? q->out_fd_at[1] : q->out_len;
			n = send_with_fd(q, end, q->out_fd[0]);
			if (n > 0) {
				close(q->out_fd[0]);
				memmove(q->out_fd, q->out_fd + 1,
				    (q->nout_fd - 1) * sizeof(q->out_fd[0]));
				memmove(q->out_fd_at, q->out_fd_at + 1,
				    (q->nout_fd - 1) * sizeof(q->out_fd_at[0]));
				q->nout_fd--;
			}
		} else
			n = send(q->fd, q->out + q->out_off, end - q->out_off,
			    MSG_NOSIGNAL);
		if (n == -1)
			return (errno == EAGAIN || errno == EINTR) ? 0 : -1;
		q->out_off += (size_t)n;
	}
	q->out_off = q->out_len = 0;
	return 0;
}

int
qmp_dispatch(struct qmp *q, short revents)
{
	if (revents & (POLLIN | POLLHUP | POLLERR))
		if (do_read(q) == -1)
			return -1;
	/* Handling input may have queued the handshake or held commands. */
	if (q->out_len > q->out_off)
		if (do_write(q) == -1)
			return -1;
	return 0;
}

int
qmp_next_timeout(const struct qmp *q, uint64_t now_ms)
{
	uint64_t best = UINT64_MAX;
	size_t i;

	for (i = 0; i < q->npending; i++)
		if (q->pending[i].deadline_ms < best)
			best = q->pending[i].deadline_ms;
	if (best == UINT64_MAX)
		return -1;
	if (best <= now_ms)
		return 0;
	return best - now_ms > 600000 ? 600000 : (int)(best - now_ms);
}

void
qmp_expire(struct qmp *q, uint64_t now_ms)
{
	struct qmp_result r = {.timed_out = true};
	struct qmp_pending p;
	size_t i = 0;

	while (i < q->npending) {
		if (q->pending[i].deadline_ms > now_ms) {
			i++;
			continue;
		}
		p = q->pending[i];
		memmove(&q->pending[i], &q->pending[i + 1],
		    (--q->npending - i) * sizeof(q->pending[0]));
		if (p.cb != NULL)
			p.cb(p.arg, &r);
	}
}
