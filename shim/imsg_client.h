/*
 * The shim's one imsg client core, under the typed stubs of each helper
 * (shim/privnet_client.c, shim/vmmon_client.c; OpenSSH monitor_wrap style).
 * A peer is described once, by a table: each request type with its exact
 * payload size and whether it carries an fd, the reply type that answers
 * it, the reply's exact size and whether the reply carries an fd. The core
 * keeps the pending list, checks every answer against that table, decodes
 * IMSG_ERROR (imsg/qb_imsg.c) and fails everything pending when the connection
 * dies.
 *
 * Every received message goes first to the peer's dispatcher (vmd's
 * <proc>_dispatch_<peer>: shim_dispatch_privnet, shim_dispatch_vmmon),
 * which handles the peer's unsolicited events and hands answers back to
 * imsg_client_answer(). A message that breaks the protocol (wrong type,
 * wrong size, missing or unexpected fd, answer out of order) kills the
 * connection: the peer is not trusted to be in a sane state after it.
 *
 * Two ways to drive the socket: imsg_client_attach() to an event loop (the
 * core reads and writes on its own), or the caller polls imsg_client_fd()
 * and calls imsg_client_read() / imsg_client_write() while
 * imsg_client_want_write().
 */
#ifndef QEMUBOX_SHIM_IMSG_CLIENT_H
#define QEMUBOX_SHIM_IMSG_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/error.h"

struct evloop;
struct imsg;
struct imsg_client;

/* One request the peer serves. */
struct imsg_client_rpc {
	uint32_t req_type;
	size_t req_len; /* exact request payload size */
	bool req_fd;    /* the request carries exactly one fd (else none) */
	uint32_t res_type;
	size_t res_len; /* exact reply payload size, 0 = empty */
	bool res_fd;    /* the reply carries exactly one fd (else none) */
	/*
	 * Messages of this type, sent under the request's peerid just before
	 * it (vmmon's FD_REQ staging for START): an IMSG_ERROR naming it
	 * also answers the request. 0: none.
	 */
	uint32_t staged_type;
	/* Checks a reply's content beyond its size; -1 = bad. May be NULL. */
	int (*res_check)(const void *res);
};

/*
 * The answer to one request, exactly once: res/len the reply payload
 * (len == the table's res_len, res non-NULL even when len is 0) and fd
 * (-1 unless the table says res_fd; then it is the callback's to keep or
 * close), or res == NULL, fd == -1 and err says why (the peer's IMSG_ERROR,
 * QB_E_UNAVAILABLE when the connection died, QB_E_CANCELED on free).
 */
typedef void (*imsg_client_done_fn)(
    void *arg, const void *res, size_t len, int fd, const struct qb_error *err);

struct imsg_client_peer {
	const char *name; /* "qemubox-privnet": in error messages and logs */
	const struct imsg_client_rpc *rpcs;
	size_t n_rpcs;
	/*
	 * true: the peer answers one request at a time, in order; an answer
	 * for anything but the oldest request is a protocol violation.
	 * false: answers match by peerid; one for no pending request is
	 * ignored (a late second error for a request already failed).
	 */
	bool in_order;
	/* Bound on a blocking call in ms; 0 = none. */
	uint64_t call_timeout_ms;
	/* Every received message; 0, or -1 to kill the connection. */
	int (*dispatch)(struct imsg_client *c, struct imsg *imsg, void *arg);
	/* The connection died; pending requests failed first. May be NULL. */
	void (*lost)(void *arg, const char *why);
	void *arg;
};

/* An fd message sent under a request's peerid before it (staged_type). */
struct imsg_client_staged {
	const void *data;
	size_t len;
	int fd; /* the caller's: the core sends a duplicate */
};

/* Takes fd (the imsg socket to the helper); NULL + errno. */
struct imsg_client *imsg_client_new(
    int fd, const struct imsg_client_peer *peer);
/* Non-blocking I/O driven by loop from now on; -1 + errno. */
int imsg_client_attach(struct imsg_client *c, struct evloop *loop);
/*
 * Closes the socket (the helper sees EOF and exits). cancel: pending
 * callbacks run with QB_E_CANCELED first; else they are dropped unseen.
 */
void imsg_client_free(struct imsg_client *c, bool cancel);

int imsg_client_fd(const struct imsg_client *c);
bool imsg_client_want_write(const struct imsg_client *c);
bool imsg_client_dead(const struct imsg_client *c);
/* 0, or -1 once the connection is dead. */
int imsg_client_write(struct imsg_client *c);
/* Read and dispatch; 0, or -1 once the connection is dead (EOF too). */
int imsg_client_read(struct imsg_client *c);

/*
 * Queue a request (type and len checked against the table; staged fd
 * messages first). From a successful return on, done runs exactly once;
 * unattached clients write at once, so done may run before this returns
 * if that write kills the connection. -1 with err: done will not run.
 */
int imsg_client_request(struct imsg_client *c, uint32_t type, const void *req,
    size_t len, const struct imsg_client_staged *staged, size_t n_staged,
    imsg_client_done_fn done, void *arg, struct qb_error *err);
/*
 * The same, waiting for the answer (on the loop when attached: everything
 * else is dispatched meanwhile; else polling the socket). res gets the
 * reply (res_len must be the table's), *fd its fd when the table says so.
 */
int imsg_client_call(struct imsg_client *c, uint32_t type, const void *req,
    size_t len, const struct imsg_client_staged *staged, size_t n_staged,
    void *res, size_t res_len, int *fd, struct qb_error *err);
/*
 * The two above for a request whose table entry says req_fd: req_fd is the
 * caller's, the message carries a duplicate (vmmon's DISK_ADD).
 */
int imsg_client_request_fd(struct imsg_client *c, uint32_t type,
    const void *req, size_t len, int req_fd, imsg_client_done_fn done,
    void *arg, struct qb_error *err);
int imsg_client_call_fd(struct imsg_client *c, uint32_t type, const void *req,
    size_t len, int req_fd, void *res, size_t res_len, struct qb_error *err);

/*
 * For the dispatcher: match an answer (a reply or IMSG_ERROR) to its
 * pending request, check it against the table and run its callback. 0, or
 * -1 when it breaks the protocol (the dispatcher returns that).
 */
int imsg_client_answer(struct imsg_client *c, struct imsg *imsg);
/* Kill the connection: pending requests fail with QB_E_UNAVAILABLE. */
void imsg_client_lost(struct imsg_client *c, const char *why);

#endif
