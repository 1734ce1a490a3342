/* Internals shared by lib/ttrpc.c (connections, server) and
 * lib/ttrpc_client.c. Not for users of the library. */
#ifndef QEMUBOX_TTRPC_INT_H
#define QEMUBOX_TTRPC_INT_H

#include <sys/queue.h>

#include "lib/ttrpc.h"
#include "proto/ttrpc.pb-c.h"

/* Server calls in flight per connection before ResourceExhausted. */
#define TTRPC_MAX_CALLS 1024

struct ttrpc_pending {
	uint32_t sid;
	ttrpc_reply_fn cb;
	void *arg;
	struct ttrpc_conn *conn;
	struct ev_timer *timer;
	TAILQ_ENTRY(ttrpc_pending) entry;
};
TAILQ_HEAD(ttrpc_pending_list, ttrpc_pending);

struct ttrpc_call {
	struct ttrpc_conn *conn; /* NULL once cancelled */
	uint32_t sid;
	Ttrpc__Request *req;
	ProtobufCMessage *msg;
	struct ev_timer *deadline;
	int cancelled;
	void (*cancel_fn)(struct ttrpc_call *, void *);
	void *cancel_arg;
	TAILQ_ENTRY(ttrpc_call) entry;
};
TAILQ_HEAD(ttrpc_call_list, ttrpc_call);

struct ttrpc_conn {
	struct evloop *loop;
	struct ttrpc_server *srv;
	int fd;
	struct ev_io *io;
	struct ttrpc_reader rd;
	struct ttrpc_writer wr;
	int closed;
	int busy; /* callbacks on the stack: free only when it drops to 0 */
	int dead; /* closed and waiting for busy == 0 to be freed */

	struct ttrpc_call_list calls;
	size_t ncalls;
	uint32_t last_sid;

	struct ttrpc_pending_list pending;
	uint32_t next_sid;

	ttrpc_extra_fn extra_fn;
	void *extra_arg;
	void (*close_fn)(struct ttrpc_conn *, void *);
	void *close_arg;
	void *user;
	TAILQ_ENTRY(ttrpc_conn) entry;
};

/* Queue a frame and start flushing; on a queueing failure the connection
 * is closed. */
int ttrpc_conn_queue(struct ttrpc_conn *c, uint32_t sid, uint8_t type,
    uint8_t flags, const void *data, size_t len);
/* Release a reference taken with c->busy++ (frees a closed connection). */
void ttrpc_conn_unbusy(struct ttrpc_conn *c);

/* lib/ttrpc_client.c */
void ttrpc_client_response(
    struct ttrpc_conn *c, const struct ttrpc_hdr *h, const uint8_t *data);
void ttrpc_client_oversized(struct ttrpc_conn *c, uint32_t sid);
void ttrpc_client_fail_all(struct ttrpc_conn *c);

#endif
