/*
 * qemubox-tmpl: its socket. One request per connection: a GET_REQ,
 * answered by RAM_RES (+ a duplicate of the sealed RAM memfd) and
 * STATE_RES (+ a sealed copy of the device state, its own file offset at
 * 0, so that clones restoring at once never share one), or IMSG_ERROR
 * ENOENT when no template is ready or it does not match. Peers whose
 * SO_PEERCRED uid is not 0 get IMSG_ERROR EPERM and nothing else (the
 * directory is root's 0700 already). A malformed request (wrong type or
 * size, an fd, an unterminated string) is a bad peer: logged, dropped,
 * never answered. Each connection is bounded by TMPL_PEER_TIMEOUT_S.
 */
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "imsg/imsg.h"
#include "lib/error.h"
#include "lib/evloop.h"
#include "lib/log.h"
#include "tmpl/tmpl.h"

#define TMPL_PEER_TIMEOUT_S 2
#define SEALS               (F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)

/* A sealed copy of the state, read from its start. -1 with errno. */
static int
state_copy(void)
{
	char buf[65536];
	off_t off = 0;
	ssize_t n, w;
	int fd;

	if ((fd = memfd_create(
	         "qemubox-tmpl-state", MFD_CLOEXEC | MFD_ALLOW_SEALING)) == -1)
		return -1;
	while ((n = pread(tmpl.tpl_state_fd, buf, sizeof(buf), off)) > 0) {
		if ((w = write(fd, buf, (size_t)n)) != n)
			goto fail;
		off += n;
	}
	if (n == -1 || (uint64_t)off != tmpl.res.state_bytes ||
	    fcntl(fd, F_ADD_SEALS, SEALS) == -1 || lseek(fd, 0, SEEK_SET) == -1)
		goto fail;
	return fd;
fail:
	if (errno == 0)
		errno = EIO;
	close(fd);
	return -1;
}

static void
answer_enoent(struct imsgbuf *ib, uint32_t peerid, const char *why)
{
	log_info("%s: no template: %s", __func__, why);
	if (qb_imsg_compose_error(ib, peerid, IMSG_TMPL_GET_REQ, ENOENT,
	        QB_E_NOTFOUND, why) == -1)
		log_warn("%s: compose", __func__);
}

/* One request from a uid-0 peer; -1: a bad peer (drop it, no answer). */
static int
tmpl_dispatch_shim(struct imsgbuf *ib, struct imsg *imsg)
{
	struct qb_tmpl_get_req want;
	uint32_t peerid = imsg_get_id(imsg);
	char why[256];
	int ram = -1, state = -1, fd;

	if ((fd = imsg_get_fd(imsg)) != -1)
		close(fd); /* a GET_REQ carries none: a bad peer */
	if (imsg_get_type(imsg) != IMSG_TMPL_GET_REQ || fd != -1 ||
	    qb_imsg_get_struct(imsg, &want, sizeof(want)) == -1 ||
	    qb_imsg_check_strfield(want.cmdline, sizeof(want.cmdline)) < 0) {
		log_warnx("%s: bad peer: type %u, %zu bytes%s: dropped",
		    __func__, imsg_get_type(imsg), imsg_get_len(imsg),
		    fd != -1 ? ", an fd" : "");
		return -1;
	}
	if (!tmpl.ready) {
		answer_enoent(ib, peerid, "no template is ready");
		return 0;
	}
	if (tmpl_match(&want, &tmpl.have, why, sizeof(why)) == -1) {
		answer_enoent(ib, peerid, why);
		return 0;
	}
	if ((ram = fcntl(tmpl.tpl_ram_fd, F_DUPFD_CLOEXEC, 3)) == -1 ||
	    (state = state_copy()) == -1) {
		snprintf(why, sizeof(why), "template fds: %s", strerror(errno));
		if (ram != -1)
			close(ram);
		answer_enoent(ib, peerid, why);
		return 0;
	}
	/* imsg_compose owns the fds from here, sent or not. */
	if (imsg_compose(ib, IMSG_TMPL_RAM_RES, peerid, 0, ram, &tmpl.res,
	        sizeof(tmpl.res)) == -1 ||
	    imsg_compose(ib, IMSG_TMPL_STATE_RES, peerid, 0, state, NULL, 0) ==
	        -1)
		log_warn("%s: compose", __func__);
	log_info("%s: template generation %llu handed out", __func__,
	    (unsigned long long)tmpl.res.generation);
	return 0;
}

static void
serve_peer(int c)
{
	struct timeval tv = {TMPL_PEER_TIMEOUT_S, 0};
	struct ucred uc;
	socklen_t len = sizeof(uc);
	struct imsgbuf ib;
	struct imsg imsg;
	ssize_t n;
	int tries;

	imsg_init(&ib, c);
	if (setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == -1 ||
	    setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) == -1 ||
	    getsockopt(c, SOL_SOCKET, SO_PEERCRED, &uc, &len) == -1) {
		log_warn("%s: socket options", __func__);
		goto out;
	}
	if (uc.uid != 0) {
		log_warnx("%s: peer pid %d uid %u refused: root only", __func__,
		    (int)uc.pid, (unsigned)uc.uid);
		if (qb_imsg_compose_error(&ib, 0, IMSG_TMPL_GET_REQ, EPERM,
		        QB_E_PERMISSION, "qemubox-tmpl serves root only") != -1)
			imsg_flush(&ib);
		goto out;
	}
	for (tries = 0; tries < 8; tries++) {
		if ((n = imsg_get(&ib, &imsg)) == -1) {
			log_warnx("%s: pid %d: unreadable message", __func__,
			    (int)uc.pid);
			goto out;
		}
		if (n > 0) {
			if (tmpl_dispatch_shim(&ib, &imsg) == 0 &&
			    imsg_flush(&ib) == -1)
				log_warn(
				    "%s: pid %d: send", __func__, (int)uc.pid);
			imsg_free(&imsg);
			goto out;
		}
		if ((n = imsg_read(&ib)) == -1 || n == 0)
			goto out; /* timed out, closed or broken */
	}
out:
	imsg_clear(&ib);
}

static void
on_accept(struct ev_io *io, int fd, unsigned events, void *arg)
{
	int c;

	(void)io;
	(void)events;
	(void)arg;
	while ((c = accept4(fd, NULL, NULL, SOCK_CLOEXEC)) != -1) {
		serve_peer(c);
		close(c);
	}
	if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
		log_warn("%s: accept", __func__);
}

int
tmpl_serve_start(void)
{
	if (evloop_io_add(
	        tmpl.loop, tmpl.listen_fd, EV_READ, on_accept, NULL) == NULL)
		return -1;
	return 0;
}
