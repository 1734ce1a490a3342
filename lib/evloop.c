#include "lib/evloop.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/queue.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"

#define EV_MAXEVENTS 64
#define EV_NSIG      65

struct ev_io {
	struct evloop *loop;
	int fd;
	unsigned events;
	ev_io_cb cb;
	void *arg;
	int dead;
	TAILQ_ENTRY(ev_io) entry;
};
TAILQ_HEAD(ev_io_list, ev_io);

struct ev_timer {
	struct evloop *loop;
	uint64_t when;
	uint64_t period;
	ev_timer_cb cb;
	void *arg;
	size_t idx; /* position in the heap, SIZE_MAX when not in it */
	int firing;
	int dead;
};

struct ev_signal {
	struct evloop *loop;
	int signo;
	ev_signal_cb cb;
	void *arg;
};

struct ev_defer {
	struct evloop *loop;
	ev_defer_cb cb;
	void *arg;
	struct ev_defer_list *list; /* the queue it is on */
	TAILQ_ENTRY(ev_defer) entry;
};
TAILQ_HEAD(ev_defer_list, ev_defer);

struct evloop {
	int epfd;
	int broken;
	struct ev_io_list ios;
	/* Deleted watches wait here until no epoll batch can refer to them. */
	struct ev_io_list graveyard;

	struct ev_timer **heap;
	size_t nheap, heapcap;

	int sigfd;
	sigset_t sigmask;
	struct ev_io *sigio;
	struct ev_signal *sigs[EV_NSIG];

	struct ev_defer_list defers;
	struct ev_defer_list running; /* defers being dispatched this round */
};

uint64_t
evloop_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

struct evloop *
evloop_new(void)
{
	struct evloop *loop;

	if ((loop = calloc(1, sizeof(*loop))) == NULL)
		return NULL;
	if ((loop->epfd = epoll_create1(EPOLL_CLOEXEC)) == -1) {
		free(loop);
		return NULL;
	}
	loop->sigfd = -1;
	sigemptyset(&loop->sigmask);
	TAILQ_INIT(&loop->ios);
	TAILQ_INIT(&loop->graveyard);
	TAILQ_INIT(&loop->defers);
	TAILQ_INIT(&loop->running);
	return loop;
}

static void
reap_graveyard(struct evloop *loop)
{
	struct ev_io *io;

	while ((io = TAILQ_FIRST(&loop->graveyard)) != NULL) {
		TAILQ_REMOVE(&loop->graveyard, io, entry);
		free(io);
	}
}

void
evloop_free(struct evloop *loop)
{
	struct ev_io *io;
	struct ev_defer *d;
	size_t i;
	int s;

	if (loop == NULL)
		return;
	while ((io = TAILQ_FIRST(&loop->ios)) != NULL)
		evloop_io_del(io);
	reap_graveyard(loop);
	for (i = 0; i < loop->nheap; i++)
		free(loop->heap[i]);
	free(loop->heap);
	for (s = 0; s < EV_NSIG; s++)
		free(loop->sigs[s]);
	while ((d = TAILQ_FIRST(&loop->defers)) != NULL) {
		TAILQ_REMOVE(&loop->defers, d, entry);
		free(d);
	}
	while ((d = TAILQ_FIRST(&loop->running)) != NULL) {
		TAILQ_REMOVE(&loop->running, d, entry);
		free(d);
	}
	if (loop->sigfd != -1)
		close(loop->sigfd);
	close(loop->epfd);
	free(loop);
}

/* fd watches */

static uint32_t
to_epoll(unsigned events)
{
	uint32_t e = 0;

	if (events & EV_READ)
		e |= EPOLLIN;
	if (events & EV_WRITE)
		e |= EPOLLOUT;
	return e;
}

struct ev_io *
evloop_io_add(
    struct evloop *loop, int fd, unsigned events, ev_io_cb cb, void *arg)
{
	struct epoll_event ev;
	struct ev_io *io;

	if (fd < 0 || cb == NULL) {
		errno = EINVAL;
		return NULL;
	}
	if ((io = calloc(1, sizeof(*io))) == NULL)
		return NULL;
	io->loop = loop;
	io->fd = fd;
	io->events = events & (EV_READ | EV_WRITE);
	io->cb = cb;
	io->arg = arg;
	memset(&ev, 0, sizeof(ev));
	ev.events = to_epoll(io->events);
	ev.data.ptr = io;
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) == -1) {
		free(io);
		return NULL;
	}
	TAILQ_INSERT_TAIL(&loop->ios, io, entry);
	return io;
}

int
evloop_io_set(struct ev_io *io, unsigned events)
{
	struct epoll_event ev;

	events &= EV_READ | EV_WRITE;
	if (io->dead) {
		errno = EBADF;
		return -1;
	}
	if (events == io->events)
		return 0;
	memset(&ev, 0, sizeof(ev));
	ev.events = to_epoll(events);
	ev.data.ptr = io;
	if (epoll_ctl(io->loop->epfd, EPOLL_CTL_MOD, io->fd, &ev) == -1)
		return -1;
	io->events = events;
	return 0;
}

unsigned
evloop_io_events(const struct ev_io *io)
{
	return io->events;
}

void
evloop_io_del(struct ev_io *io)
{
	struct evloop *loop;

	if (io == NULL || io->dead)
		return;
	loop = io->loop;
	/* The fd may already be closed by the owner; nothing to undo then. */
	(void)epoll_ctl(loop->epfd, EPOLL_CTL_DEL, io->fd, NULL);
	io->dead = 1;
	TAILQ_REMOVE(&loop->ios, io, entry);
	TAILQ_INSERT_TAIL(&loop->graveyard, io, entry);
}

/* timers: a binary min-heap on the due time */

static void
heap_swap(struct evloop *loop, size_t a, size_t b)
{
	struct ev_timer *t = loop->heap[a];

	loop->heap[a] = loop->heap[b];
	loop->heap[b] = t;
	loop->heap[a]->idx = a;
	loop->heap[b]->idx = b;
}

static void
heap_up(struct evloop *loop, size_t i)
{
	while (i > 0) {
		size_t p = (i - 1) / 2;
		if (loop->heap[p]->when <= loop->heap[i]->when)
			break;
		heap_swap(loop, i, p);
		i = p;
	}
}

static void
heap_down(struct evloop *loop, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < loop->nheap &&
		    loop->heap[l]->when < loop->heap[m]->when)
			m = l;
		if (r < loop->nheap &&
		    loop->heap[r]->when < loop->heap[m]->when)
			m = r;
		if (m == i)
			break;
		heap_swap(loop, i, m);
		i = m;
	}
}

static int
heap_insert(struct evloop *loop, struct ev_timer *t)
{
	if (loop->nheap == loop->heapcap) {
		size_t ncap = loop->heapcap ? loop->heapcap * 2 : 16;
		struct ev_timer **nh;
		if ((nh = reallocarray(loop->heap, ncap, sizeof(*nh))) == NULL)
			return -1;
		loop->heap = nh;
		loop->heapcap = ncap;
	}
	t->idx = loop->nheap;
	loop->heap[loop->nheap++] = t;
	heap_up(loop, t->idx);
	return 0;
}

static void
heap_remove(struct evloop *loop, struct ev_timer *t)
{
	size_t i = t->idx;

	if (i == SIZE_MAX)
		return;
	t->idx = SIZE_MAX;
	loop->nheap--;
	if (i == loop->nheap)
		return;
	loop->heap[i] = loop->heap[loop->nheap];
	loop->heap[i]->idx = i;
	heap_up(loop, i);
	heap_down(loop, loop->heap[i]->idx);
}

struct ev_timer *
evloop_timer_add(struct evloop *loop, uint64_t delay_ns, uint64_t period_ns,
    ev_timer_cb cb, void *arg)
{
	struct ev_timer *t;

	if (cb == NULL) {
		errno = EINVAL;
		return NULL;
	}
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return NULL;
	t->loop = loop;
	t->when = evloop_now_ns();
	/* A peer-chosen delay (ttrpc timeout_nano) must not wrap around
	 * into "due now". */
	t->when =
	    delay_ns > UINT64_MAX - t->when ? UINT64_MAX : t->when + delay_ns;
	t->period = period_ns;
	t->cb = cb;
	t->arg = arg;
	if (heap_insert(loop, t) == -1) {
		free(t);
		return NULL;
	}
	return t;
}

void
evloop_timer_del(struct ev_timer *t)
{
	if (t == NULL || t->dead)
		return;
	heap_remove(t->loop, t);
	if (t->firing) {
		/* run_timers frees it when the callback returns. */
		t->dead = 1;
		return;
	}
	free(t);
}

static int
run_timers(struct evloop *loop)
{
	uint64_t now = evloop_now_ns();
	struct ev_timer *t;
	int n = 0;

	while (loop->nheap > 0 && loop->heap[0]->when <= now) {
		t = loop->heap[0];
		heap_remove(loop, t);
		if (t->period > 0) {
			/* Skip missed periods rather than firing a burst. */
			t->when = t->period > UINT64_MAX - t->when
			              ? UINT64_MAX
			              : t->when + t->period;
			if (t->when <= now)
				t->when = now + t->period;
			if (heap_insert(loop, t) == -1)
				log_warn(
				    "%s: periodic timer dropped", __func__);
		}
		t->firing = 1;
		t->cb(t, t->arg);
		t->firing = 0;
		n++;
		if (t->dead || t->idx == SIZE_MAX)
			free(t);
	}
	return n;
}

/* signals */

static void
sigfd_cb(struct ev_io *io, int fd, unsigned events, void *arg)
{
	struct evloop *loop = arg;
	struct signalfd_siginfo si;
	struct ev_signal *s;
	ssize_t n;

	(void)io;
	(void)events;
	for (;;) {
		n = read(fd, &si, sizeof(si));
		if (n != (ssize_t)sizeof(si))
			break;
		if (si.ssi_signo >= EV_NSIG)
			continue;
		/* Looked up per signal: a handler may delete any handler. */
		if ((s = loop->sigs[si.ssi_signo]) != NULL)
			s->cb(s, &si, s->arg);
	}
}

static int
sigfd_update(struct evloop *loop)
{
	int fd;

	if ((fd = signalfd(loop->sigfd, &loop->sigmask,
	         SFD_NONBLOCK | SFD_CLOEXEC)) == -1)
		return -1;
	if (loop->sigfd == -1) {
		loop->sigfd = fd;
		loop->sigio = evloop_io_add(loop, fd, EV_READ, sigfd_cb, loop);
		if (loop->sigio == NULL) {
			close(fd);
			loop->sigfd = -1;
			return -1;
		}
	}
	return 0;
}

struct ev_signal *
evloop_signal_add(struct evloop *loop, int signo, ev_signal_cb cb, void *arg)
{
	struct ev_signal *s;
	sigset_t one;

	if (signo <= 0 || signo >= EV_NSIG || cb == NULL) {
		errno = EINVAL;
		return NULL;
	}
	if (loop->sigs[signo] != NULL) {
		errno = EEXIST;
		return NULL;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	s->loop = loop;
	s->signo = signo;
	s->cb = cb;
	s->arg = arg;
	sigemptyset(&one);
	sigaddset(&one, signo);
	if (sigprocmask(SIG_BLOCK, &one, NULL) == -1)
		goto fail;
	sigaddset(&loop->sigmask, signo);
	if (sigfd_update(loop) == -1) {
		sigdelset(&loop->sigmask, signo);
		goto fail;
	}
	loop->sigs[signo] = s;
	return s;
fail:
	free(s);
	return NULL;
}

void
evloop_signal_del(struct ev_signal *s)
{
	struct evloop *loop;

	if (s == NULL)
		return;
	loop = s->loop;
	loop->sigs[s->signo] = NULL;
	sigdelset(&loop->sigmask, s->signo);
	if (sigfd_update(loop) == -1)
		log_warn("%s: signalfd", __func__);
	free(s);
}

/* deferred callbacks */

struct ev_defer *
evloop_defer(struct evloop *loop, ev_defer_cb cb, void *arg)
{
	struct ev_defer *d;

	if (cb == NULL) {
		errno = EINVAL;
		return NULL;
	}
	if ((d = calloc(1, sizeof(*d))) == NULL)
		return NULL;
	d->loop = loop;
	d->cb = cb;
	d->arg = arg;
	d->list = &loop->defers;
	TAILQ_INSERT_TAIL(&loop->defers, d, entry);
	return d;
}

void
evloop_defer_cancel(struct ev_defer *d)
{
	if (d == NULL)
		return;
	TAILQ_REMOVE(d->list, d, entry);
	free(d);
}

static int
run_defers(struct evloop *loop)
{
	struct ev_defer *d;
	ev_defer_cb cb;
	void *arg;
	int n = 0;

	/* Only what was queued before this round: a callback that re-queues
	 * itself must not starve the fds. */
	TAILQ_CONCAT(&loop->running, &loop->defers, entry);
	TAILQ_FOREACH(d, &loop->running, entry)
	d->list = &loop->running;
	while ((d = TAILQ_FIRST(&loop->running)) != NULL) {
		TAILQ_REMOVE(&loop->running, d, entry);
		cb = d->cb;
		arg = d->arg;
		free(d);
		cb(arg);
		n++;
	}
	return n;
}

/* dispatch */

static int
next_timeout(struct evloop *loop, int timeout_ms)
{
	uint64_t now, when, ms;

	if (!TAILQ_EMPTY(&loop->defers))
		return 0;
	if (loop->nheap == 0)
		return timeout_ms;
	now = evloop_now_ns();
	when = loop->heap[0]->when;
	if (when <= now)
		return 0;
	/* Round up so a timer is never woken for early. */
	ms = (when - now + 999999) / 1000000;
	if (ms > INT_MAX)
		ms = INT_MAX;
	if (timeout_ms >= 0 && (uint64_t)timeout_ms < ms)
		return timeout_ms;
	return (int)ms;
}

int
evloop_run_once(struct evloop *loop, int timeout_ms)
{
	struct epoll_event evs[EV_MAXEVENTS];
	struct ev_io *io;
	unsigned re;
	int i, n, ran = 0;

	n = epoll_wait(
	    loop->epfd, evs, EV_MAXEVENTS, next_timeout(loop, timeout_ms));
	if (n == -1) {
		if (errno != EINTR)
			return -1;
		n = 0;
	}
	for (i = 0; i < n; i++) {
		io = evs[i].data.ptr;
		if (io->dead)
			continue;
		re = 0;
		if (evs[i].events & EPOLLIN)
			re |= EV_READ;
		if (evs[i].events & EPOLLOUT)
			re |= EV_WRITE;
		if (evs[i].events & EPOLLHUP)
			re |= EV_HUP;
		if (evs[i].events & EPOLLERR)
			re |= EV_ERR;
		io->cb(io, io->fd, re, io->arg);
		ran++;
	}
	ran += run_timers(loop);
	ran += run_defers(loop);
	reap_graveyard(loop);
	return ran;
}

int
evloop_run(struct evloop *loop)
{
	loop->broken = 0;
	while (!loop->broken) {
		if (evloop_run_once(loop, -1) == -1) {
			log_warn("%s: epoll_wait", __func__);
			return -1;
		}
	}
	loop->broken = 0;
	return 0;
}

void
evloop_break(struct evloop *loop)
{
	loop->broken = 1;
}
