/*
 * Layer builds off the event loop (shim/storage_async.h).
 */
#include "shim/storage_async.h"

#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/evloop.h"
#include "lib/log.h"

/* What the builder child sends back: one fixed-size record. */
struct build_report {
	struct qb_error err;
	uint8_t built[STORAGE_MAX_DISKS];
};

struct storage_prepare {
	struct storage_plan *plan;
	const struct layer_cache *lc;
	struct evloop *loop;
	storage_prepare_cb cb;
	void *arg;
	pid_t pid;
	int fd;
	struct ev_io *io;
	struct ev_defer *defer;
	struct build_report rep;
	size_t got;
};

static void
prepare_free(struct storage_prepare *p)
{
	evloop_io_del(p->io);
	if (p->defer != NULL)
		evloop_defer_cancel(p->defer);
	if (p->fd != -1)
		close(p->fd);
	free(p);
}

/* Open every image (hits now) and report. */
static void
finish(struct storage_prepare *p, const struct qb_error *child_err)
{
	struct qb_error err = {0};
	const struct qb_error *res = NULL;

	if (child_err != NULL && child_err->code != QB_E_OK)
		res = child_err;
	else if (storage_plan_prepare(p->plan, p->lc, &err) == -1)
		res = &err;
	else
		for (size_t i = 0; i < p->plan->n_disks; i++)
			p->plan->disks[i].built |= p->rep.built[i] != 0;
	p->cb(p->plan, res, p->arg);
}

static void
on_defer(void *arg)
{
	struct storage_prepare *p = arg;

	p->defer = NULL;
	finish(p, NULL);
	prepare_free(p);
}

static void
on_report(struct ev_io *io, int fd, unsigned events, void *arg)
{
	struct storage_prepare *p = arg;
	struct qb_error err = {0};
	ssize_t r;

	(void)io;
	(void)events;
	r = read(fd, (char *)&p->rep + p->got, sizeof(p->rep) - p->got);
	if (r == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (r > 0) {
		p->got += (size_t)r;
		if (p->got < sizeof(p->rep))
			return;
	}
	/* A full report, or EOF/error: the builder is done either way. */
	while (waitpid(p->pid, NULL, 0) == -1 && errno == EINTR)
		;
	if (p->got < sizeof(p->rep)) {
		qb_seterr(&err, QB_E_INTERNAL,
		    "layer builder (pid %ld) died without a report",
		    (long)p->pid);
		finish(p, &err);
	} else {
		p->rep.err.msg[sizeof(p->rep.err.msg) - 1] = '\0';
		finish(p, &p->rep.err);
	}
	prepare_free(p);
}

static void
write_all(int fd, const void *buf, size_t len)
{
	const char *b = buf;

	while (len > 0) {
		ssize_t w = write(fd, b, len);

		if (w == -1 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		b += w;
		len -= (size_t)w;
	}
}

/* The builder: runs only layer_cache_get for the misses, then _exit. */
static void __attribute__((noreturn))
builder(struct storage_prepare *p, int wfd)
{
	struct build_report rep;
	sigset_t none;

	memset(&rep, 0, sizeof(rep));
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	(void)setpgid(0, 0);
	for (size_t i = 0; i < p->plan->n_disks; i++) {
		const struct storage_disk *d = &p->plan->disks[i];
		char img[PATH_MAX];
		int built = 0;

		if (d->src != STORAGE_SRC_DIR || d->fd != -1)
			continue;
		if (layer_cache_get(p->lc, d->path, d->key, img, sizeof(img),
		        NULL, &built, &rep.err) == -1) {
			qb_preferr(&rep.err, "layer %s", d->path);
			break;
		}
		rep.built[i] = (uint8_t)built;
	}
	write_all(wfd, &rep, sizeof(rep));
	_exit(rep.err.code == QB_E_OK ? 0 : 1);
}

static bool
all_hits(const struct storage_plan *plan, const struct layer_cache *lc)
{
	for (size_t i = 0; i < plan->n_disks; i++) {
		const struct storage_disk *d = &plan->disks[i];
		char key[LAYER_CACHE_KEY_LEN + 1], img[PATH_MAX];

		if (d->src != STORAGE_SRC_DIR || d->fd != -1)
			continue;
		if (layer_cache_key(lc, d->path, d->key, key) == -1)
			return false; /* the builder reports the error */
		if (snprintf(img, sizeof(img), "%s/%s.erofs", lc->dir, key) >=
		        (int)sizeof(img) ||
		    access(img, F_OK) == -1)
			return false;
	}
	return true;
}

struct storage_prepare *
storage_plan_prepare_async(struct storage_plan *plan,
    const struct layer_cache *cache, struct evloop *loop, storage_prepare_cb cb,
    void *arg, struct qb_error *err)
{
	struct storage_prepare *p;
	int pfd[2];

	if ((p = calloc(1, sizeof(*p))) == NULL) {
		qb_seterr(err, QB_E_EXHAUSTED, "out of memory");
		return NULL;
	}
	p->plan = plan;
	p->lc = cache;
	p->loop = loop;
	p->cb = cb;
	p->arg = arg;
	p->fd = -1;
	p->pid = -1;
	if (all_hits(plan, cache)) {
		if ((p->defer = evloop_defer(loop, on_defer, p)) == NULL)
			goto nomem;
		return p;
	}
	if (pipe2(pfd, O_CLOEXEC) == -1) {
		qb_seterr(err, QB_E_INTERNAL, "pipe: %s", strerror(errno));
		free(p);
		return NULL;
	}
	switch (p->pid = fork()) {
	case -1:
		qb_seterr(err, QB_E_INTERNAL, "fork: %s", strerror(errno));
		close(pfd[0]);
		close(pfd[1]);
		free(p);
		return NULL;
	case 0:
		close(pfd[0]);
		builder(p, pfd[1]);
	}
	close(pfd[1]);
	/* Also here: no race with the child's own setpgid for cancel. */
	(void)setpgid(p->pid, p->pid);
	p->fd = pfd[0];
	(void)fcntl(p->fd, F_SETFL, O_NONBLOCK);
	if ((p->io = evloop_io_add(loop, p->fd, EV_READ, on_report, p)) ==
	    NULL) {
		storage_prepare_cancel(p);
		qb_seterr(err, QB_E_INTERNAL, "evloop_io_add failed");
		return NULL;
	}
	return p;
nomem:
	free(p);
	qb_seterr(err, QB_E_EXHAUSTED, "out of memory");
	return NULL;
}

void
storage_prepare_cancel(struct storage_prepare *p)
{
	if (p == NULL)
		return;
	if (p->pid > 0) {
		(void)kill(-p->pid, SIGKILL);
		while (waitpid(p->pid, NULL, 0) == -1 && errno == EINTR)
			;
	}
	prepare_free(p);
}
