/*
 * Blocking client of qemubox-fsd (shim/fsd_client.h).
 */
#include "shim/fsd_client.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "imsg/imsg.h"
#include "imsg/qemubox_imsg.h"

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Poll fd for events until the deadline; 0, or -1 (timeout, error). */
static int
wait_fd(int fd, short events, long long deadline)
{
	struct pollfd pfd = {fd, events, 0};
	long long left;
	int r;

	for (;;) {
		if ((left = deadline - now_ms()) <= 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		r = poll(&pfd, 1, (int)left);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1)
			return -1;
		if (r == 1)
			return 0;
	}
}

/* The one answer to what ibuf holds: want's payload (exactly reslen bytes,
 * and an fd when resfd is not NULL), or the IMSG_ERROR fsd sent. */
static int
exchange(struct imsgbuf *ibuf, uint32_t want, void *res, size_t reslen,
    int *resfd, struct qb_error *err)
{
	long long deadline = now_ms() + FSD_CLIENT_TIMEOUT_MS;
	struct qb_imsg_error e;
	struct imsg imsg;
	ssize_t n;
	int rc, fd = ibuf->fd;

	while (msgbuf_queuelen(&ibuf->w) > 0) {
		if (imsg_flush(ibuf) == 0)
			break;
		if ((errno != EAGAIN && errno != EINTR) ||
		    wait_fd(fd, POLLOUT, deadline) == -1)
			goto io;
	}
	for (;;) {
		if ((n = imsg_get(ibuf, &imsg)) == -1)
			goto io;
		if (n > 0)
			break;
		if (wait_fd(fd, POLLIN, deadline) == -1)
			goto io;
		if ((n = imsg_read(ibuf)) == -1 &&
		    (errno == EAGAIN || errno == EINTR))
			continue;
		if (n <= 0) {
			errno = n == 0 ? ECONNRESET : errno;
			goto io;
		}
	}
	if (imsg_get_type(&imsg) == want) {
		rc = qb_imsg_get_struct(&imsg, res, reslen);
		if (resfd != NULL && rc == 0 &&
		    (*resfd = imsg_get_fd(&imsg)) == -1)
			rc = -1;
		if (rc == -1)
			qb_seterr(err, QB_E_UNAVAILABLE,
			    "qemubox-fsd: malformed answer");
	} else if (imsg_get_type(&imsg) == IMSG_ERROR) {
		if (qb_imsg_get_struct(&imsg, &e, sizeof(e)) == -1 ||
		    qb_imsg_check_strfield(e.msg, sizeof(e.msg)) < 0)
			rc = qb_seterr(err, QB_E_UNAVAILABLE,
			    "qemubox-fsd: malformed error");
		else
			rc = qb_seterr(
			    err, e.code ? e.code : QB_E_INTERNAL, "%s", e.msg);
	} else {
		rc = qb_seterr(err, QB_E_UNAVAILABLE,
		    "qemubox-fsd: unexpected answer %u", imsg_get_type(&imsg));
	}
	imsg_free(&imsg);
	return rc;
io:
	return qb_seterr(
	    err, QB_E_UNAVAILABLE, "qemubox-fsd: %s", strerror(errno));
}

int
fsd_client_start(int fd, const char *sandbox_id,
    const struct storage_plan *plan, bool spare, int *qemu_fd, int *pid,
    struct qb_error *err)
{
	struct qb_fs_start_req sreq;
	struct qb_fs_start_res res;
	struct qb_fs_volume vol;
	struct imsgbuf ibuf;
	size_t i;
	int rc = -1;

	*qemu_fd = -1;
	*pid = -1;
	if (fd == -1)
		return qb_seterr(err, QB_E_PRECONDITION,
		    "bind mounts need the volume helper qemubox-fsd, which is "
		    "not running");
	if ((plan->n_volumes == 0 && !spare) ||
	    plan->n_volumes > QB_FS_MAX_VOLUMES ||
	    strlen(sandbox_id) >= sizeof(sreq.id))
		return qb_seterr(err, QB_E_INVALID, "%zu volumes for %s",
		    plan->n_volumes, sandbox_id);
	imsg_init(&ibuf, fd);
	for (i = 0; i < plan->n_volumes; i++) {
		memset(&vol, 0, sizeof(vol));
		vol.index = (uint32_t)i;
		vol.readonly = plan->volumes[i].readonly;
		snprintf(vol.source, sizeof(vol.source), "%s",
		    plan->volumes[i].source);
		if (imsg_compose(&ibuf, IMSG_FS_VOLUME_REQ, 0, 0, -1, &vol,
		        sizeof(vol)) == -1)
			goto io;
	}
	memset(&sreq, 0, sizeof(sreq));
	snprintf(sreq.id, sizeof(sreq.id), "%s", sandbox_id);
	sreq.nvolumes = (uint32_t)plan->n_volumes;
	sreq.spare = spare;
	if (imsg_compose(
	        &ibuf, IMSG_FS_START_REQ, 0, 0, -1, &sreq, sizeof(sreq)) == -1)
		goto io;
	if ((rc = exchange(&ibuf, IMSG_FS_START_RES, &res, sizeof(res), qemu_fd,
	         err)) == 0)
		*pid = res.pid;
	imsg_clear(&ibuf);
	return rc;
io:
	qb_seterr(err, QB_E_UNAVAILABLE, "qemubox-fsd: %s", strerror(errno));
	imsg_clear(&ibuf);
	return -1;
}

int
fsd_client_add(int fd, const char *sandbox_id, uint32_t index, bool readonly,
    const char *source, struct qb_error *err)
{
	struct qb_fs_add_req areq;
	struct qb_fs_slot res;
	struct imsgbuf ibuf;
	int rc;

	if (fd == -1)
		return qb_seterr(err, QB_E_PRECONDITION,
		    "bind mounts need the volume helper qemubox-fsd, which is "
		    "not running");
	memset(&areq, 0, sizeof(areq));
	if (index >= QB_FS_MAX_VOLUMES ||
	    strlen(sandbox_id) >= sizeof(areq.id) ||
	    strlen(source) >= sizeof(areq.vol.source))
		return qb_seterr(err, QB_E_INVALID,
		    "volume %u (%s) for %s: out of range", index, source,
		    sandbox_id);
	snprintf(areq.id, sizeof(areq.id), "%s", sandbox_id);
	areq.vol.index = index;
	areq.vol.readonly = readonly;
	snprintf(areq.vol.source, sizeof(areq.vol.source), "%s", source);
	imsg_init(&ibuf, fd);
	if (imsg_compose(
	        &ibuf, IMSG_FS_ADD_REQ, 0, 0, -1, &areq, sizeof(areq)) == -1)
		rc = qb_seterr(
		    err, QB_E_UNAVAILABLE, "qemubox-fsd: %s", strerror(errno));
	else
		rc = exchange(
		    &ibuf, IMSG_FS_ADD_RES, &res, sizeof(res), NULL, err);
	imsg_clear(&ibuf);
	return rc;
}

int
fsd_client_del(
    int fd, const char *sandbox_id, uint32_t index, struct qb_error *err)
{
	struct qb_fs_slot req, res;
	struct imsgbuf ibuf;
	int rc;

	if (fd == -1)
		return qb_seterr(
		    err, QB_E_PRECONDITION, "qemubox-fsd is not running");
	memset(&req, 0, sizeof(req));
	if (index >= QB_FS_MAX_VOLUMES || strlen(sandbox_id) >= sizeof(req.id))
		return qb_seterr(
		    err, QB_E_INVALID, "volume %u of %s", index, sandbox_id);
	snprintf(req.id, sizeof(req.id), "%s", sandbox_id);
	req.index = index;
	imsg_init(&ibuf, fd);
	if (imsg_compose(&ibuf, IMSG_FS_DEL_REQ, 0, 0, -1, &req, sizeof(req)) ==
	    -1)
		rc = qb_seterr(
		    err, QB_E_UNAVAILABLE, "qemubox-fsd: %s", strerror(errno));
	else
		rc = exchange(
		    &ibuf, IMSG_FS_DEL_RES, &res, sizeof(res), NULL, err);
	imsg_clear(&ibuf);
	return rc;
}
