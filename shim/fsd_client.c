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

static int
answer(struct imsg *imsg, int *qemu_fd, int *pid, struct qb_error *err)
{
	struct qb_fs_start_res res;
	struct qb_imsg_error e;

	switch (imsg_get_type(imsg)) {
	case IMSG_FS_START_RES:
		if (qb_imsg_get_struct(imsg, &res, sizeof(res)) == -1 ||
		    (*qemu_fd = imsg_get_fd(imsg)) == -1)
			return qb_seterr(err, QB_E_UNAVAILABLE,
			    "qemubox-fsd: malformed answer");
		*pid = res.pid;
		return 0;
	case IMSG_ERROR:
		if (qb_imsg_get_struct(imsg, &e, sizeof(e)) == -1 ||
		    qb_imsg_check_strfield(e.msg, sizeof(e.msg)) < 0)
			return qb_seterr(err, QB_E_UNAVAILABLE,
			    "qemubox-fsd: malformed error");
		return qb_seterr(
		    err, e.code ? e.code : QB_E_INTERNAL, "%s", e.msg);
	default:
		return qb_seterr(err, QB_E_UNAVAILABLE,
		    "qemubox-fsd: unexpected answer %u", imsg_get_type(imsg));
	}
}

int
fsd_client_start(int fd, const char *sandbox_id,
    const struct storage_plan *plan, int *qemu_fd, int *pid,
    struct qb_error *err)
{
	long long deadline = now_ms() + FSD_CLIENT_TIMEOUT_MS;
	struct qb_fs_start_req sreq;
	struct qb_fs_volume vol;
	struct imsgbuf ibuf;
	struct imsg imsg;
	ssize_t n;
	size_t i;
	int rc = -1;

	*qemu_fd = -1;
	*pid = -1;
	if (fd == -1)
		return qb_seterr(err, QB_E_PRECONDITION,
		    "bind mounts need the volume helper qemubox-fsd, which is "
		    "not running");
	if (plan->n_volumes == 0 || plan->n_volumes > QB_FS_MAX_VOLUMES ||
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
	if (imsg_compose(
	        &ibuf, IMSG_FS_START_REQ, 0, 0, -1, &sreq, sizeof(sreq)) == -1)
		goto io;
	while (msgbuf_queuelen(&ibuf.w) > 0) {
		if (imsg_flush(&ibuf) == 0)
			break;
		if ((errno != EAGAIN && errno != EINTR) ||
		    wait_fd(fd, POLLOUT, deadline) == -1)
			goto io;
	}
	for (;;) {
		if ((n = imsg_get(&ibuf, &imsg)) == -1)
			goto io;
		if (n > 0) {
			rc = answer(&imsg, qemu_fd, pid, err);
			imsg_free(&imsg);
			break;
		}
		if (wait_fd(fd, POLLIN, deadline) == -1)
			goto io;
		if ((n = imsg_read(&ibuf)) == -1 &&
		    (errno == EAGAIN || errno == EINTR))
			continue;
		if (n <= 0) {
			errno = n == 0 ? ECONNRESET : errno;
			goto io;
		}
	}
	imsg_clear(&ibuf);
	return rc;
io:
	qb_seterr(err, QB_E_UNAVAILABLE, "qemubox-fsd: %s", strerror(errno));
	imsg_clear(&ibuf);
	return -1;
}
