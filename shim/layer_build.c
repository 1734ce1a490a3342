/*
 * Layer builds through qemubox-spawner (shim/layer_build.h).
 */
#include "shim/layer_build.h"

#include <sys/socket.h>
#include <sys/wait.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "imsg/imsg.h"
#include "imsg/qemubox_imsg.h"

static int
flush_all(struct imsgbuf *ib)
{
	while (msgbuf_queuelen(&ib->w) > 0) {
		if (imsg_flush(ib) == -1 && errno != EAGAIN && errno != EINTR)
			return -1;
	}
	return 0;
}

/* One IMSG_LAYER_BUILD_RES from the channel, or -1 (EOF, garbage). */
static int
read_result(int fd, struct qb_layer_build_res *res)
{
	struct imsgbuf ib;
	struct imsg imsg;
	ssize_t n;
	int rc = -1;

	imsg_init(&ib, fd);
	for (;;) {
		if ((n = imsg_get(&ib, &imsg)) == -1)
			break;
		if (n > 0) {
			if (imsg_get_type(&imsg) == IMSG_LAYER_BUILD_RES &&
			    qb_imsg_get_struct(&imsg, res, sizeof(*res)) == 0)
				rc = 0;
			imsg_free(&imsg);
			break;
		}
		if ((n = imsg_read(&ib)) == -1 &&
		    (errno == EAGAIN || errno == EINTR))
			continue;
		if (n <= 0)
			break;
	}
	imsg_clear(&ib);
	if (rc == 0)
		res->msg[sizeof(res->msg) - 1] = '\0';
	return rc;
}

/* mkfs's stderr as one line for an error message. */
static void
one_line(char *s)
{
	size_t len = strlen(s);

	while (len > 0 && s[len - 1] == '\n')
		s[--len] = '\0';
	for (; *s != '\0'; s++)
		if (*s == '\n')
			*s = ' ';
}

int
layer_build_remote(int spawner_fd, const char *dir, const char *compression,
    int out_fd, int *privileged, struct qb_error *err)
{
	struct qb_layer_build_req req;
	struct qb_layer_build_res res;
	struct imsgbuf main_ib, ch_ib;
	int sv[2] = {-1, -1}, dupfd = -1, rc = -1;

	if (privileged != NULL)
		*privileged = 0;
	memset(&req, 0, sizeof(req));
	if (strlen(dir) >= sizeof(req.dir) ||
	    strlen(compression) >= sizeof(req.compression))
		return qb_seterr(
		    err, QB_E_INVALID, "layer path too long: %s", dir);
	strcpy(req.dir, dir);
	strcpy(req.compression, compression);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1)
		return qb_seterr(
		    err, QB_E_INTERNAL, "socketpair: %s", strerror(errno));

	/* A fresh channel: one message on the shared socket, so concurrent
	 * builders never interleave. imsg_compose takes sv[1]. */
	imsg_init(&main_ib, spawner_fd);
	if (imsg_compose(&main_ib, IMSG_SPAWN_CHANNEL, 0, 0, sv[1], NULL, 0) ==
	    -1) {
		close(sv[1]);
		sv[1] = -1;
		qb_seterr(err, QB_E_INTERNAL, "imsg: %s", strerror(errno));
		goto out;
	}
	sv[1] = -1;
	if (flush_all(&main_ib) == -1) {
		imsg_clear(&main_ib);
		qb_seterr(err, QB_E_UNAVAILABLE,
		    "qemubox-spawner is gone (%s): layers cannot be built",
		    strerror(errno));
		goto out;
	}
	imsg_clear(&main_ib);

	imsg_init(&ch_ib, sv[0]);
	if ((dupfd = dup(out_fd)) == -1 ||
	    imsg_compose(&ch_ib, IMSG_LAYER_BUILD_REQ, 0, 0, dupfd, &req,
	        sizeof(req)) == -1) {
		if (dupfd != -1)
			close(dupfd);
		imsg_clear(&ch_ib);
		qb_seterr(err, QB_E_INTERNAL, "imsg: %s", strerror(errno));
		goto out;
	}
	if (flush_all(&ch_ib) == -1) {
		imsg_clear(&ch_ib);
		qb_seterr(err, QB_E_UNAVAILABLE, "qemubox-spawner: %s",
		    strerror(errno));
		goto out;
	}
	imsg_clear(&ch_ib);
	if (read_result(sv[0], &res) == -1) {
		qb_seterr(err, QB_E_UNAVAILABLE,
		    "qemubox-spawner gave no answer for layer %s", dir);
		goto out;
	}
	one_line(res.msg);
	if (privileged != NULL)
		*privileged = res.privileged != 0;
	switch (res.result) {
	case QB_LAYER_OK:
		rc = 0;
		break;
	case QB_LAYER_REFUSED:
		qb_seterr(err, QB_E_INVALID, "layer builder refused %s: %s",
		    dir, res.msg);
		break;
	default:
		if (WIFSIGNALED(res.wstatus))
			qb_seterr(err, QB_E_INTERNAL,
			    "mkfs.erofs %s killed by signal %d: %s", dir,
			    WTERMSIG(res.wstatus), res.msg);
		else
			qb_seterr(err, QB_E_INTERNAL,
			    "mkfs.erofs %s failed (exit %d): %s", dir,
			    WEXITSTATUS(res.wstatus), res.msg);
	}
out:
	if (sv[0] != -1)
		close(sv[0]);
	return rc;
}
