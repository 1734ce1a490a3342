/*
 * One GET_REQ per connection to qemubox-tmpl (shim/tmpl_client.h). The
 * answer is checked before the caller sees it: RAM_RES of exact size with
 * an fd whose seals are exactly W|SHRINK|GROW|SEAL and whose size is the
 * one announced, then STATE_RES with a write-sealed fd of the announced
 * size; anything else is a broken holder (EPROTO).
 */
#include "shim/tmpl_client.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "imsg/imsg.h"
#include "lib/path.h"
#include "lib/unix_addr.h"
#include "shim/tmpl_spawn.h"

#define SEALS (F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)

static char sock_path[PATH_MAX];

int
tmpl_client_init(const struct qb_config *cfg)
{
	return tmpl_sock_path(cfg, sock_path, sizeof(sock_path));
}

static int
holder_connect(struct qb_error *err)
{
	struct timeval tv = {TMPL_CLIENT_TIMEOUT_MS / 1000,
	    (TMPL_CLIENT_TIMEOUT_MS % 1000) * 1000};
	struct sockaddr_un sun;
	int s;

	if (sock_path[0] == '\0' || unix_addr(&sun, sock_path) == -1) {
		errno = ENOENT;
		return qb_seterr(err, QB_E_NOTFOUND,
		    "template holder: no socket configured");
	}
	if ((s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return qb_seterr(
		    err, QB_E_INTERNAL, "template holder: %s", strerror(errno));
	if (setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == -1 ||
	    setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) == -1 ||
	    connect(s, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		qb_seterr(err, QB_E_NOTFOUND, "template holder %s: %s",
		    sock_path, strerror(errno));
		close(s);
		errno = ENOENT;
		return -1;
	}
	return s;
}

/* A received fd of the right size and seals; else -1 (EPROTO). */
static int
check_fd(int fd, uint64_t size, bool exact_seals)
{
	struct stat st;
	int seals;

	if (fd == -1 || fstat(fd, &st) == -1 || (uint64_t)st.st_size != size ||
	    (seals = fcntl(fd, F_GET_SEALS)) == -1 ||
	    (exact_seals ? seals != SEALS : (seals & F_SEAL_WRITE) == 0))
		return -1;
	return fcntl(fd, F_SETFD, FD_CLOEXEC);
}

int
tmpl_client_get(const struct qb_tmpl_get_req *req, struct qb_tmpl_res *res,
    int *ram_fd, int *state_fd, struct qb_error *err)
{
	struct imsgbuf ib;
	struct imsg imsg;
	struct qb_imsg_error e;
	const char *bad = NULL;
	int s, fd, saved, send_err = 0;
	ssize_t n;

	*ram_fd = *state_fd = -1;
	if ((s = holder_connect(err)) == -1)
		return -1;
	imsg_init(&ib, s);
	/*
	 * A send that fails may still have an answer waiting: a holder that
	 * refuses a peer answers and closes before reading.
	 */
	if (imsg_compose(&ib, IMSG_TMPL_GET_REQ, 1, 0, -1, req, sizeof(*req)) ==
	        -1 ||
	    imsg_flush(&ib) == -1)
		send_err = errno;
	while (*state_fd == -1 && bad == NULL) {
		if ((n = imsg_get(&ib, &imsg)) == -1) {
			bad = "unreadable message";
			break;
		}
		if (n == 0) {
			if ((n = imsg_read(&ib)) == -1 || n == 0) {
				if (send_err != 0) {
					qb_seterr(err, QB_E_NOTFOUND,
					    "template holder: send: %s",
					    strerror(send_err));
					saved = ENOENT;
					goto fail;
				}
				bad = n == 0 ? "closed before answering"
				             : "no answer in time";
				break;
			}
			continue;
		}
		fd = imsg_get_fd(&imsg);
		switch (imsg_get_type(&imsg)) {
		case IMSG_ERROR:
			if (fd != -1)
				close(fd);
			if (qb_imsg_error_read(&imsg, &e) == -1) {
				bad = "malformed IMSG_ERROR";
				break;
			}
			imsg_free(&imsg);
			qb_seterr(err, e.code, "template holder: %s", e.msg);
			saved = e.errnum == ENOENT ? ENOENT : EPERM;
			goto fail;
		case IMSG_TMPL_RAM_RES:
			if (*ram_fd != -1 ||
			    qb_imsg_get_struct(&imsg, res, sizeof(*res)) ==
			        -1 ||
			    res->start.ram_mode != QB_VMM_RAM_TEMPLATE ||
			    check_fd(fd, res->ram_bytes, true) == -1) {
				if (fd != -1)
					close(fd);
				bad = "RAM_RES: size, fd or seals wrong";
				break;
			}
			*ram_fd = fd;
			break;
		case IMSG_TMPL_STATE_RES:
			if (*ram_fd == -1 || imsg_get_len(&imsg) != 0 ||
			    check_fd(fd, res->state_bytes, false) == -1) {
				if (fd != -1)
					close(fd);
				bad = "STATE_RES: order, fd or seals wrong";
				break;
			}
			*state_fd = fd;
			break;
		default:
			if (fd != -1)
				close(fd);
			bad = "unexpected message type";
		}
		imsg_free(&imsg);
	}
	if (bad == NULL) {
		imsg_clear(&ib);
		close(s);
		return 0;
	}
	qb_seterr(err, QB_E_INTERNAL, "template holder: %s", bad);
	saved = EPROTO;
fail:
	imsg_clear(&ib);
	close(s);
	if (*ram_fd != -1)
		close(*ram_fd);
	if (*state_fd != -1)
		close(*state_fd);
	*ram_fd = *state_fd = -1;
	errno = saved;
	return -1;
}
