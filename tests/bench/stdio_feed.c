/*
 * Host-side feeder for the stdin throughput benchmark: runs CMD with its
 * stdin a pipe we fill with BYTES zero bytes and its stdout a pipe we read
 * to EOF (CMD is e.g. `ctr run -i ... md5sum`).
 *
 *   stdio_feed BYTES CMD [ARG...]
 *
 * The clock starts once SKIP bytes (8 MiB, more than every buffer on the
 * way: pipes, FIFOs, credit windows) were accepted, so the container's
 * start-up is not counted, and stops at the first byte of CMD's output
 * (md5sum answers at EOF). Prints "bytes B seconds S mbps M out LINE" with
 * B the bytes timed (BYTES - SKIP), MB/s in 10^6 bytes, LINE the first line
 * CMD wrote.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SKIP (8ull << 20)

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int
main(int argc, char *argv[])
{
	static char zero[1 << 16], out[4096];
	unsigned long long total, sent = 0;
	int in[2], op[2], st;
	size_t have = 0;
	double t1 = 0, t2 = 0;
	struct pollfd pf[2];
	ssize_t n;
	pid_t pid;

	if (argc < 3 || (total = strtoull(argv[1], NULL, 10)) <= SKIP) {
		fprintf(
		    stderr, "usage: stdio_feed BYTES(> 8 MiB) CMD [ARG...]\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if (pipe2(in, O_CLOEXEC) == -1 || pipe2(op, O_CLOEXEC) == -1)
		return 1;
	if ((pid = fork()) == -1)
		return 1;
	if (pid == 0) {
		if (dup2(in[0], 0) == -1 || dup2(op[1], 1) == -1)
			_exit(127);
		execvp(argv[2], argv + 2);
		_exit(127);
	}
	close(in[0]);
	close(op[1]);
	fcntl(in[1], F_SETFL, O_NONBLOCK);
	pf[0].fd = in[1];
	pf[1].fd = op[0];
	for (;;) {
		pf[0].events = pf[0].fd >= 0 ? POLLOUT : 0;
		pf[1].events = POLLIN;
		if (poll(pf, 2, -1) == -1) {
			if (errno == EINTR)
				continue;
			return 1;
		}
		if (pf[0].fd >= 0 && (pf[0].revents & (POLLOUT | POLLERR))) {
			size_t want = sizeof(zero);

			if (want > total - sent)
				want = (size_t)(total - sent);
			n = write(pf[0].fd, zero, want);
			if (n == -1 && errno != EAGAIN) {
				fprintf(stderr, "stdio_feed: write: %s\n",
				    strerror(errno));
				close(pf[0].fd);
				pf[0].fd = -1;
			} else if (n > 0) {
				if (sent < SKIP && sent + (size_t)n >= SKIP)
					t1 = now();
				sent += (size_t)n;
				if (sent == total) {
					close(pf[0].fd);
					pf[0].fd = -1;
				}
			}
		}
		if (pf[1].revents & (POLLIN | POLLHUP)) {
			n = read(op[0], out + have, sizeof(out) - 1 - have);
			if (n <= 0)
				break;
			if (have == 0)
				t2 = now();
			have += (size_t)n;
			if (have == sizeof(out) - 1)
				have = 0; /* keep the first line only */
		}
	}
	if (pf[0].fd >= 0)
		close(pf[0].fd);
	while (waitpid(pid, &st, 0) == -1 && errno == EINTR)
		;
	out[have] = '\0';
	out[strcspn(out, "\n")] = '\0';
	if (sent != total || t1 == 0 || t2 < t1) {
		fprintf(stderr, "stdio_feed: sent %llu of %llu bytes%s\n", sent,
		    total, t2 < t1 ? ", output before the end" : "");
		return 1;
	}
	printf("bytes %llu seconds %.3f mbps %.1f out %s\n", total - SKIP,
	    t2 - t1, (double)(total - SKIP) / 1e6 / (t2 - t1), out);
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 1;
}
