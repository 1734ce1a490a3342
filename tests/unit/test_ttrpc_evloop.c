/* Unit tests for lib/evloop: fds, timers, signals, deferred callbacks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "lib/evloop.h"

struct rec {
	char log[256];
	int n;
	struct evloop *loop;
	struct ev_io *other;
	int fds[2];
};

static void
rec_add(struct rec *r, char c)
{
	if (r->n < (int)sizeof(r->log) - 1)
		r->log[r->n++] = c;
}

static void
read_cb(struct ev_io *io, int fd, unsigned events, void *arg)
{
	struct rec *r = arg;
	char buf[16];

	(void)io;
	if (events & EV_READ) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n > 0)
			rec_add(r, buf[0]);
	}
	evloop_break(r->loop);
}

static void
test_io_read(void **state)
{
	struct evloop *loop = evloop_new();
	struct rec r = {0};
	struct ev_io *io;
	int p[2];

	(void)state;
	assert_non_null(loop);
	assert_int_equal(pipe2(p, O_NONBLOCK), 0);
	r.loop = loop;
	io = evloop_io_add(loop, p[0], EV_READ, read_cb, &r);
	assert_non_null(io);
	assert_int_equal(write(p[1], "x", 1), 1);
	assert_int_equal(evloop_run(loop), 0);
	assert_string_equal(r.log, "x");
	/* Interest 0: a readable fd is no longer reported. */
	assert_int_equal(evloop_io_set(io, 0), 0);
	assert_int_equal(write(p[1], "y", 1), 1);
	assert_int_equal(evloop_run_once(loop, 20), 0);
	assert_int_equal(evloop_io_set(io, EV_READ), 0);
	assert_int_equal(evloop_run_once(loop, 1000), 1);
	assert_string_equal(r.log, "xy");
	evloop_io_del(io);
	evloop_free(loop);
	close(p[0]);
	close(p[1]);
}

static void
write_cb(struct ev_io *io, int fd, unsigned events, void *arg)
{
	struct rec *r = arg;

	(void)fd;
	if (events & EV_WRITE)
		rec_add(r, 'w');
	assert_int_equal(evloop_io_set(io, EV_READ), 0);
}

static void
test_io_write_interest(void **state)
{
	struct evloop *loop = evloop_new();
	struct rec r = {0};
	struct ev_io *io;
	int p[2];

	(void)state;
	assert_int_equal(pipe2(p, O_NONBLOCK), 0);
	io = evloop_io_add(loop, p[1], EV_WRITE, write_cb, &r);
	assert_non_null(io);
	assert_int_equal(evloop_run_once(loop, 1000), 1);
	assert_int_equal(evloop_io_events(io), EV_READ);
	assert_int_equal(evloop_run_once(loop, 10), 0);
	assert_string_equal(r.log, "w");
	evloop_free(loop); /* frees the still-registered watch */
	close(p[0]);
	close(p[1]);
}

/* Two fds ready in the same round; the first callback deletes the other
 * watch (and closes its fd): the second must not be called. */
static void
killer_cb(struct ev_io *io, int fd, unsigned events, void *arg)
{
	struct rec *r = arg;
	char c;

	(void)io;
	(void)events;
	if (read(fd, &c, 1) == 1)
		rec_add(r, c);
	if (r->other != NULL) {
		evloop_io_del(r->other);
		evloop_io_del(io);
		r->other = NULL;
	}
}

static void
test_io_del_in_batch(void **state)
{
	struct evloop *loop = evloop_new();
	struct rec ra = {0}, rb = {0};
	struct ev_io *a, *b;
	int p[2], q[2];

	(void)state;
	assert_int_equal(pipe2(p, O_NONBLOCK), 0);
	assert_int_equal(pipe2(q, O_NONBLOCK), 0);
	assert_int_equal(write(p[1], "a", 1), 1);
	assert_int_equal(write(q[1], "b", 1), 1);
	a = evloop_io_add(loop, p[0], EV_READ, killer_cb, &ra);
	b = evloop_io_add(loop, q[0], EV_READ, killer_cb, &rb);
	assert_non_null(a);
	assert_non_null(b);
	/* Whichever runs first deletes the other watch and itself. */
	ra.other = b;
	rb.other = a;
	assert_int_equal(evloop_run_once(loop, 1000), 1);
	assert_int_equal(ra.n + rb.n, 1);
	assert_int_equal(evloop_run_once(loop, 10), 0);
	evloop_free(loop);
	close(p[0]);
	close(p[1]);
	close(q[0]);
	close(q[1]);
}

static void
timer_cb(struct ev_timer *t, void *arg)
{
	struct rec *r = arg;

	(void)t;
	rec_add(r, 'a' + (char)(r->n % 26));
}

struct tick {
	int count;
	struct evloop *loop;
	struct ev_timer *self;
};

static void
tick_cb(struct ev_timer *t, void *arg)
{
	struct tick *k = arg;

	assert_ptr_equal(t, k->self);
	if (++k->count == 3) {
		evloop_timer_del(t); /* deleting itself from its callback */
		evloop_break(k->loop);
	}
}

static void
test_timers(void **state)
{
	struct evloop *loop = evloop_new();
	struct tick k = {0};
	struct rec r = {0};
	struct ev_timer *t;
	uint64_t t0, el;

	(void)state;
	/*
	 * One-shot timers fire in due order, not insertion order. t0 is read
	 * before the timers are armed: read after, a preemption between the
	 * add and the read made the 30 ms timer look early under load.
	 */
	t0 = evloop_now_ns();
	t = evloop_timer_add(loop, 30000000, 0, timer_cb, &r);
	assert_non_null(t);
	assert_non_null(evloop_timer_add(loop, 10000000, 0, timer_cb, &r));
	while (r.n < 2)
		assert_true(evloop_run_once(loop, 1000) >= 0);
	el = evloop_now_ns() - t0;
	assert_true(el >= 30000000);
	assert_string_equal(r.log, "ab");

	/* A huge delay saturates instead of wrapping into "due now". */
	t = evloop_timer_add(loop, UINT64_MAX - 5, 0, timer_cb, &r);
	assert_non_null(t);
	assert_int_equal(evloop_run_once(loop, 10), 0);
	evloop_timer_del(t);

	/* A deleted timer never fires. */
	t = evloop_timer_add(loop, 5000000, 0, timer_cb, &r);
	evloop_timer_del(t);
	assert_int_equal(evloop_run_once(loop, 20), 0);
	assert_int_equal(r.n, 2);

	/* Periodic. */
	k.loop = loop;
	k.self = evloop_timer_add(loop, 1000000, 2000000, tick_cb, &k);
	assert_non_null(k.self);
	t0 = evloop_now_ns();
	assert_int_equal(evloop_run(loop), 0);
	el = evloop_now_ns() - t0;
	assert_int_equal(k.count, 3);
	assert_true(el >= 5000000);
	assert_int_equal(evloop_run_once(loop, 10), 0);
	evloop_free(loop);
}

static void
sig_cb(struct ev_signal *s, const struct signalfd_siginfo *si, void *arg)
{
	struct rec *r = arg;

	(void)s;
	rec_add(r, si->ssi_signo == SIGUSR1 ? '1' : '2');
	evloop_break(r->loop);
}

static void
test_signals(void **state)
{
	struct evloop *loop = evloop_new();
	struct ev_signal *s1, *s2;
	struct rec r = {0};
	sigset_t cur;

	(void)state;
	r.loop = loop;
	s1 = evloop_signal_add(loop, SIGUSR1, sig_cb, &r);
	s2 = evloop_signal_add(loop, SIGUSR2, sig_cb, &r);
	assert_non_null(s1);
	assert_non_null(s2);
	assert_null(evloop_signal_add(loop, SIGUSR1, sig_cb, &r));
	assert_int_equal(kill(getpid(), SIGUSR2), 0);
	assert_int_equal(evloop_run(loop), 0);
	assert_int_equal(kill(getpid(), SIGUSR1), 0);
	assert_int_equal(evloop_run(loop), 0);
	assert_string_equal(r.log, "21");
	evloop_signal_del(s2);
	/* Still blocked, not delivered through the loop any more. */
	assert_int_equal(kill(getpid(), SIGUSR2), 0);
	assert_int_equal(evloop_run_once(loop, 10), 0);
	evloop_free(loop);
	sigprocmask(SIG_BLOCK, NULL, &cur);
	assert_true(sigismember(&cur, SIGUSR2));
	/* Drain the pending SIGUSR2 so it cannot leak into other tests. */
	{
		sigset_t one;
		int got;
		sigemptyset(&one);
		sigaddset(&one, SIGUSR2);
		assert_int_equal(sigwait(&one, &got), 0);
	}
}

struct dq {
	char log[16];
	int n;
	struct evloop *loop;
	struct ev_defer *victim;
};

static void
defer_cb(void *arg)
{
	struct dq *d = arg;

	d->log[d->n++] = 'd';
	if (d->victim != NULL) {
		evloop_defer_cancel(d->victim);
		d->victim = NULL;
	}
}

static void
requeue_cb(void *arg)
{
	struct dq *d = arg;

	d->log[d->n++] = 'r';
	/* Re-queued work runs in a later round, so fds are not starved. */
	if (d->n < 3)
		assert_non_null(evloop_defer(d->loop, requeue_cb, d));
}

static void
test_defer(void **state)
{
	struct evloop *loop = evloop_new();
	struct dq d = {0};
	struct ev_defer *x;

	(void)state;
	d.loop = loop;
	assert_non_null(evloop_defer(loop, defer_cb, &d));
	d.victim = evloop_defer(loop, defer_cb, &d); /* cancelled by the 1st */
	assert_non_null(d.victim);
	x = evloop_defer(loop, defer_cb, &d);
	evloop_defer_cancel(x);
	assert_int_equal(evloop_run_once(loop, 1000), 1);
	assert_string_equal(d.log, "d");

	d.n = 0;
	memset(d.log, 0, sizeof(d.log));
	assert_non_null(evloop_defer(loop, requeue_cb, &d));
	assert_int_equal(evloop_run_once(loop, 1000), 1);
	assert_int_equal(evloop_run_once(loop, 1000), 1);
	assert_int_equal(evloop_run_once(loop, 1000), 1);
	assert_int_equal(evloop_run_once(loop, 10), 0);
	assert_string_equal(d.log, "rrr");
	/* A pending defer is freed with the loop. */
	assert_non_null(evloop_defer(loop, defer_cb, &d));
	evloop_free(loop);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_io_read),
	    cmocka_unit_test(test_io_write_interest),
	    cmocka_unit_test(test_io_del_in_batch),
	    cmocka_unit_test(test_timers),
	    cmocka_unit_test(test_signals),
	    cmocka_unit_test(test_defer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
