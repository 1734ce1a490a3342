/*
 * QMP client (json-c) over a socket vmmon holds (WIRE.md section 6).
 *
 * QEMU is as untrusted as the guest: every line it sends is bounded
 * (QMP_MAX_LINE), parsed with a bounded nesting depth and classified by
 * qmp_decode() before anything acts on it; a reply to a command never sent,
 * an id of the wrong type or an over-long line is a protocol error that the
 * caller answers by killing the VM.
 *
 * Non-blocking and callback-driven so it fits vmmon's poll loop: the
 * greeting and qmp_capabilities are handled here; commands queued before
 * the handshake completes are sent right after it.
 */
#ifndef QEMUBOX_VMMON_QMP_H
#define QEMUBOX_VMMON_QMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#define QMP_MAX_LINE    (1024 * 1024)
#define QMP_MAX_DEPTH   16
#define QMP_MAX_PENDING 64
#define QMP_MAX_FDS     8 /* fds queued with commands (qmp_execute_fd) */

enum qmp_msg_kind {
	QMP_MSG_GREETING = 1,
	QMP_MSG_RETURN,
	QMP_MSG_ERROR,
	QMP_MSG_EVENT,
};

/* One decoded server message; borrowed pointers into `root`. */
struct qmp_msg {
	enum qmp_msg_kind kind;
	json_object *root; /* owned: qmp_msg_release() */
	bool has_id;
	uint64_t id;
	json_object *ret;      /* RETURN: the value of "return" */
	const char *err_class; /* ERROR */
	const char *err_desc;  /* ERROR */
	const char *event;     /* EVENT: its name */
	json_object *data;     /* EVENT: "data" or NULL */
	int major, minor;      /* GREETING: QEMU version */
};

/* Decodes one line (without its newline). 0, or -1 with errno EBADMSG. */
int qmp_decode(const char *line, size_t len, struct qmp_msg *msg);
void qmp_msg_release(struct qmp_msg *msg);

/* Outcome of one command, handed to its callback exactly once. */
struct qmp_result {
	bool ok;
	bool timed_out;        /* no reply within the command's timeout */
	bool closed;           /* the connection ended first */
	json_object *ret;      /* ok: the "return" value (borrowed) */
	const char *err_class; /* !ok && !timed_out && !closed */
	const char *err_desc;
};

typedef void (*qmp_result_cb)(void *arg, const struct qmp_result *res);

struct qmp_callbacks {
	void (*ready)(void *arg); /* handshake done */
	void (*event)(void *arg, const char *name, json_object *data);
	void *arg;
};

struct qmp;

struct qmp *qmp_new(int fd, const struct qmp_callbacks *cb);
/* Fails every pending command with `closed`, then frees; closes the fd. */
void qmp_free(struct qmp *q);

int qmp_fd(const struct qmp *q);
bool qmp_is_ready(const struct qmp *q);
/* POLLIN always, POLLOUT while output is queued. */
short qmp_poll_events(const struct qmp *q);
/*
 * Handles readiness on the fd. Returns 0, or -1 when the connection is
 * over: errno EPIPE (EOF), EBADMSG (protocol violation) or the I/O error.
 */
int qmp_dispatch(struct qmp *q, short revents);

/*
 * Queues {"execute":cmd,"arguments":args,"id":N}. args (may be NULL) is
 * taken. cb runs later (never from inside qmp_execute). 0 / -1.
 */
int qmp_execute(struct qmp *q, const char *cmd, json_object *args,
    uint64_t timeout_ms, qmp_result_cb cb, void *arg);
/*
 * As qmp_execute, with fd sent (SCM_RIGHTS) along with the command's first
 * bytes, for add-fd/getfd. fd is duplicated: the caller keeps its own.
 */
int qmp_execute_fd(struct qmp *q, const char *cmd, json_object *args, int fd,
    uint64_t timeout_ms, qmp_result_cb cb, void *arg);

/* Milliseconds until the next command deadline, -1 if none. */
int qmp_next_timeout(const struct qmp *q, uint64_t now_ms);
/* Fails commands whose deadline passed. */
void qmp_expire(struct qmp *q, uint64_t now_ms);

uint64_t qmp_now_ms(void);

#endif
