/*
 * A single-threaded epoll event loop shared by the shim and by vminitd (PID 1
 * in the guest). No threads: every callback runs on the thread that called
 * evloop_run().
 *
 * Handles returned by the *_add functions stay valid until the matching
 * *_del (or, for a one-shot timer, until its callback has returned). Deleting
 * any handle from inside any callback, including its own, is safe: the loop
 * never calls back into a deleted handle and frees it only after the
 * current dispatch round.
 */
#ifndef QEMUBOX_EVLOOP_H
#define QEMUBOX_EVLOOP_H

#include <stdint.h>
#include <sys/signalfd.h>

struct evloop;
struct ev_io;
struct ev_timer;
struct ev_signal;
struct ev_defer;

/* Interest and readiness bits for fd watches. */
#define EV_READ  0x01u
#define EV_WRITE 0x02u
/* Readiness only: peer hung up or the fd is in error (always reported). */
#define EV_HUP 0x04u
#define EV_ERR 0x08u

typedef void (*ev_io_cb)(struct ev_io *io, int fd, unsigned events, void *arg);
typedef void (*ev_timer_cb)(struct ev_timer *t, void *arg);
typedef void (*ev_signal_cb)(
    struct ev_signal *s, const struct signalfd_siginfo *si, void *arg);
typedef void (*ev_defer_cb)(void *arg);

struct evloop *evloop_new(void);
/* Frees every handle still registered; does not close watched fds. Signals
 * blocked by evloop_signal_add stay blocked. */
void evloop_free(struct evloop *loop);

/* Dispatch until evloop_break(). Returns 0 after a break, -1 on error. */
int evloop_run(struct evloop *loop);
/* One round: wait at most timeout_ms (-1 = forever, 0 = poll) for events,
 * then dispatch fds, due timers and deferred callbacks. Returns the number of
 * callbacks run or -1. Handy for tests and for nested blocking helpers. */
int evloop_run_once(struct evloop *loop, int timeout_ms);
/* Make evloop_run() return after the current callback. */
void evloop_break(struct evloop *loop);
/* CLOCK_MONOTONIC in nanoseconds, as used by the timers. */
uint64_t evloop_now_ns(void);

/* Watch fd for events (EV_READ | EV_WRITE, may be 0). The fd must be
 * non-blocking for the callers' own sake; the loop never reads it. */
struct ev_io *evloop_io_add(
    struct evloop *loop, int fd, unsigned events, ev_io_cb cb, void *arg);
int evloop_io_set(struct ev_io *io, unsigned events);
unsigned evloop_io_events(const struct ev_io *io);
/* Stop watching; the fd is left open. NULL is a no-op. */
void evloop_io_del(struct ev_io *io);

/* Fire after delay_ns, then every period_ns if period_ns > 0. A one-shot
 * timer is freed by the loop once its callback returns. */
struct ev_timer *evloop_timer_add(struct evloop *loop, uint64_t delay_ns,
    uint64_t period_ns, ev_timer_cb cb, void *arg);
void evloop_timer_del(struct ev_timer *t);

/* Block signo and deliver it through a signalfd. One handler per signal.
 * Blocked signals stay blocked across fork and exec: a child that execs
 * must restore its signal mask first. Signals coalesce (one SIGCHLD for
 * several exits): reap with waitpid(WNOHANG) in a loop. */
struct ev_signal *evloop_signal_add(
    struct evloop *loop, int signo, ev_signal_cb cb, void *arg);
/* Stops delivery; the signal stays blocked (a caller that wants the default
 * action back unblocks it itself). */
void evloop_signal_del(struct ev_signal *s);

/* Run cb(arg) once, at the end of the current (or next) dispatch round,
 * in the order queued. */
struct ev_defer *evloop_defer(struct evloop *loop, ev_defer_cb cb, void *arg);
void evloop_defer_cancel(struct ev_defer *d);

#endif
