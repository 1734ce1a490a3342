/*
 * The bad-peer policy of qemubox's helpers, written once (qemubox_imsg.h,
 * "A bad peer"): a request's shape checked against the helper's table, a
 * violation ends the connection, everything else is answered. Linked by
 * qemubox-privnet, qemubox-vmmon and qemubox-fsd.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imsg/imsg.h"
#include "imsg/qemubox_imsg.h"
#include "lib/error.h"
#include "lib/log.h"

const struct qb_imsg_shape *
qb_imsg_shape_check(const struct qb_imsg_shape *tab, unsigned n, uint32_t type,
    size_t len, int has_fd, const char **why)
{
	unsigned i;

	for (i = 0; i < n; i++) {
		if (tab[i].type != type)
			continue;
		if (len != tab[i].len) {
			*why = "wrong payload size";
			return NULL;
		}
		if (has_fd && !tab[i].fd) {
			*why = "unexpected fd";
			return NULL;
		}
		if (!has_fd && tab[i].fd) {
			*why = "fd missing";
			return NULL;
		}
		return &tab[i];
	}
	*why = "unexpected message type";
	return NULL;
}

void
qb_imsg_kill_peer(
    const char *who, const char *why, uint32_t type, void (*undo)(void))
{
	log_warnx("%s: protocol violation: %s (type %u): closing the "
	          "connection",
	    who, why, type);
	if (undo != NULL)
		undo();
	exit(1);
}

int
qb_imsg_compose_error(struct imsgbuf *ibuf, uint32_t peerid, uint32_t req_type,
    int errnum, int code, const char *msg)
{
	struct qb_imsg_error e;

	memset(&e, 0, sizeof(e));
	e.req_type = req_type;
	e.errnum = errnum;
	e.code = code != 0 ? code : QB_E_INTERNAL;
	snprintf(e.msg, sizeof(e.msg), "%s", msg);
	log_warnx("request %u failed: %s", req_type, e.msg);
	return imsg_compose(ibuf, IMSG_ERROR, peerid, 0, -1, &e, sizeof(e));
}
