/*
 * Event publisher (WIRE.md §4): Task events go to containerd in the order
 * they were produced, through ttrpc Forward to $TTRPC_ADDRESS, or, without
 * one, by exec'ing `<publish-binary> --address A publish --topic T
 * --namespace NS` with the Any on stdin. One event is in flight at a time
 * (that is what keeps the order); a failed one is retried with backoff
 * (100 ms doubling to 5 s) and never dropped silently: only an event
 * containerd rejects as invalid is dropped, with a warning naming it.
 * Publishing never blocks the caller.
 */
#ifndef QEMUBOX_SHIM_EVENTS_H
#define QEMUBOX_SHIM_EVENTS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/evloop.h"
#include "shim/task_service.h"

struct events_pub;

struct events_cfg {
	const char *ns;
	const char *ttrpc_address;  /* $TTRPC_ADDRESS, or NULL/"" */
	const char *publish_binary; /* -publish-binary, or NULL/"" */
	const char *grpc_address;   /* -address, for the publish binary */
};

struct events_pub *events_new(
    struct evloop *loop, const struct events_cfg *cfg);
void events_free(struct events_pub *p);

/* Queue one event (payload = the serialized event message); copies. */
int events_publish(struct events_pub *p, const char *topic,
    const char *type_url, const uint8_t *payload, size_t len);
/* A ts_event_fn: encode a Task event and queue it. arg = the publisher. */
void events_task_event(void *arg, const struct ts_event *ev);
size_t events_pending(const struct events_pub *p);
/* At exit: run the loop until the queue is empty or timeout_ms passed.
 * Returns the number of events left undelivered (each one logged). */
size_t events_drain(struct events_pub *p, int timeout_ms);

/* Topic and bare type URL (containerd.events.X) of a Task event kind. */
const char *events_topic(enum ts_event_kind kind);
const char *events_type_url(enum ts_event_kind kind);
/* Serialize a Task event into a malloc'ed buffer; NULL on ENOMEM. */
uint8_t *events_encode(const struct ts_event *ev, size_t *len);

/*
 * The daemon reaps every child (it is a subreaper); publishers and others
 * register for their own pid here. shim_children_reap() runs on SIGCHLD.
 */
int shim_child_watch(
    pid_t pid, void (*cb)(pid_t pid, int wstatus, void *), void *arg);
void shim_children_reap(void);

#endif
