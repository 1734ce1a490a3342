/*
 * The one main loop of qemubox's single-peer helpers (qemubox_imsg.h,
 * qb_imsg_serve): privnet, fsd and the spawner all wait on one socket and
 * end when the shim closes it.
 */
#include <errno.h>
#include <poll.h>

#include "imsg/imsg.h"
#include "imsg/qemubox_imsg.h"
#include "lib/log.h"

int
qb_imsg_serve(struct imsgbuf *ibuf, int (*dispatch)(struct imsgbuf *),
    int tick_ms, void (*tick)(void))
{
	struct pollfd pfd;
	ssize_t n;

	log_debug("%s: serving on fd %d", __func__, ibuf->fd);
	for (;;) {
		pfd.fd = ibuf->fd;
		pfd.events = POLLIN;
		pfd.revents = 0;
		if (poll(&pfd, 1, tick != NULL ? tick_ms : -1) == -1) {
			if (errno == EINTR)
				continue;
			fatal("%s: poll", __func__);
		}
		if (tick != NULL)
			tick();
		if ((pfd.revents & (POLLIN | POLLHUP | POLLERR)) == 0)
			continue;
		if ((n = imsg_read(ibuf)) == -1) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			fatal("%s: imsg_read", __func__);
		}
		if (n == 0) {
			log_debug(
			    "%s: the peer closed the connection", __func__);
			return 0;
		}
		if (dispatch(ibuf) == -1)
			return -1;
	}
}
