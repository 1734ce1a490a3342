/*
 * The guest channel's transport (shim/transport.h).
 */
#include <sys/socket.h>

#include <linux/vm_sockets.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include "shim/transport.h"

bool
transport_vhost_vsock_present(void)
{
	return access(TRANSPORT_VHOST_VSOCK, F_OK) == 0;
}

enum qb_vmm_transport
transport_pick(
    enum qb_transport want, transport_probe_fn probe, const char **why)
{
	switch (want) {
	case QB_TRANSPORT_VSOCK:
		*why = "runtime.transport is vsock";
		return QB_VMM_TRANSPORT_VSOCK;
	case QB_TRANSPORT_VIRTIO_SERIAL:
		*why = "runtime.transport is virtio-serial";
		return QB_VMM_TRANSPORT_VIRTIO_SERIAL;
	case QB_TRANSPORT_AUTO:
		break;
	}
	if (probe()) {
		*why = "auto: " TRANSPORT_VHOST_VSOCK " exists";
		return QB_VMM_TRANSPORT_VSOCK;
	}
	*why = "auto: no " TRANSPORT_VHOST_VSOCK;
	return QB_VMM_TRANSPORT_VIRTIO_SERIAL;
}

int
transport_vsock_open(uint32_t *cid, struct qb_error *err)
{
	int fd;

	if ((fd = open(TRANSPORT_VHOST_VSOCK, O_RDWR | O_CLOEXEC)) == -1)
		return qb_seterr(err, QB_E_PRECONDITION,
		    "runtime.transport vsock: open %s: %s",
		    TRANSPORT_VHOST_VSOCK, strerror(errno));
	/* 0-2 are reserved; a pid is unique among live processes. */
	*cid = (uint32_t)getpid() + 3;
	return fd;
}

int
transport_vsock_connect(uint32_t cid, uint32_t port, int timeout_ms)
{
	struct sockaddr_vm sa;
	struct pollfd pfd;
	socklen_t len = sizeof(int);
	int fd, soerr = 0, saved;

	fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd == -1)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.svm_family = AF_VSOCK;
	sa.svm_cid = cid;
	sa.svm_port = port;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1) {
		if (errno != EINPROGRESS)
			goto fail;
		pfd.fd = fd;
		pfd.events = POLLOUT;
		pfd.revents = 0;
		if (poll(&pfd, 1, timeout_ms) != 1) {
			errno = ETIMEDOUT;
			goto fail;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) == -1)
			goto fail;
		if (soerr != 0) {
			errno = soerr;
			goto fail;
		}
	}
	/* Like the socketpair end of virtio-serial: blocking until the
	 * guest client sets its own flags. */
	if (fcntl(fd, F_SETFL, 0) == -1)
		goto fail;
	return fd;
fail:
	saved = errno;
	close(fd);
	errno = saved;
	return -1;
}
