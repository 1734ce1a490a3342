/*
 * vminitd: PID 1 of a qemubox guest. pid1_setup() prepares the VM and finds
 * the host channel; the rest of the life of the VM is serving the host on it.
 *
 * Until the guest API agent (guest/agent.h, agent_run()) is plugged in, the
 * channel is served by a minimal loop: every byte from the host is echoed
 * back (a liveness check for the host side), children are reaped, and the
 * host closing the channel powers the VM off.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "guest/pid1.h"
#include "lib/log.h"

/* PID 1 must never exit: the kernel would panic. exit() (fatal()) powers off.
 */
static void
exit_poweroff(void)
{
	if (getpid() == 1)
		pid1_poweroff();
}

static int
write_all(int fd, const char *p, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = write(fd, p, len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * virtio-serial reports EOF (and POLLHUP) while the host end is not
 * connected, which includes the moment before QEMU says it is: only an EOF
 * after the host has been seen counts.
 */
static void
echo_loop(struct pid1_info *info)
{
	struct pollfd pfd[2];
	struct timespec idle = {0, 20 * 1000000};
	char buf[4096];
	ssize_t n;
	int fd = info->chan_fd, seen = 0;

	if (info->transport == PID1_TRANSPORT_VSOCK) {
		while ((fd = accept4(
		            info->chan_fd, NULL, NULL, SOCK_CLOEXEC)) == -1) {
			if (errno != EINTR) {
				log_warn("%s: accept", __func__);
				return;
			}
		}
	}
	/* pid1_setup() waited for the host: usually connected already. */
	pfd[0].fd = fd;
	pfd[0].events = POLLIN | POLLOUT;
	if (poll(pfd, 1, 0) == 1 && !(pfd[0].revents & POLLHUP))
		seen = 1;
	for (;;) {
		pfd[0].fd = fd;
		pfd[0].events = POLLIN;
		pfd[1].fd = info->sig_fd;
		pfd[1].events = POLLIN;
		if (poll(pfd, 2, -1) == -1) {
			if (errno == EINTR)
				continue;
			log_warn("%s: poll", __func__);
			return;
		}
		if (pfd[1].revents & POLLIN) {
			if (pid1_signals(info, NULL, NULL) == 1)
				return;
		}
		if (pfd[0].revents & POLLIN) {
			n = read(fd, buf, sizeof(buf));
			if (n == -1 && errno != EINTR && errno != EAGAIN) {
				log_warn("%s: read", __func__);
				return;
			}
			if (n > 0) {
				seen = 1;
				if (write_all(fd, buf, (size_t)n) == -1) {
					log_warn("%s: write", __func__);
					return;
				}
				continue;
			}
			if (n == 0 &&
			    (seen || info->transport == PID1_TRANSPORT_VSOCK)) {
				log_info(
				    "%s: host closed the channel", __func__);
				return;
			}
			nanosleep(&idle, NULL);
		} else if (pfd[0].revents & (POLLHUP | POLLERR)) {
			if (seen) {
				log_info(
				    "%s: host closed the channel", __func__);
				return;
			}
			nanosleep(&idle, NULL);
		}
	}
}

int
main(void)
{
	struct pid1_info info;

	log_init("vminitd", 0);
	if (getpid() != 1) {
		log_warnx(
		    "main: vminitd runs only as PID 1 of a qemubox guest");
		return 2;
	}
	atexit(exit_poweroff);
	if (pid1_setup(&info) == -1) {
		log_warn("main: set-up failed");
		pid1_poweroff();
	}
	echo_loop(&info);
	pid1_poweroff();
}
