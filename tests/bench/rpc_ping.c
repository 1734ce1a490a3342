/*
 * Benchmark driver for the shim<->guest RPC round trip: boots the project
 * kernel + initrd under QEMU (microvm, TCG) with the virtio-serial port on
 * one end of a socketpair, exactly as vmmon wires it, then times N Ping
 * calls through shim/guest_client (the shim's own client code and channel)
 * one after the other. The shim offers no hook to ping a live container's
 * guest, hence this driver.
 *
 *   rpc_ping KERNEL INITRD N CONSOLE.log
 *
 * Prints one line: "ready_ms R n N median_us M p99_us P min_us A max_us B".
 */
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/evloop.h"
#include "lib/log.h"
#include "shim/guest_client.h"

static struct evloop *loop;
static bool ready, dead, done;
static struct qb_error last_err;
static uint64_t last_nonce;

static void
on_ready(struct guest_client *c, uint64_t boot_ms, void *arg)
{
	(void)c;
	(void)boot_ms;
	(void)arg;
	ready = true;
}

static void
on_dead(struct guest_client *c, const char *why, void *arg)
{
	(void)c;
	(void)arg;
	fprintf(stderr, "rpc_ping: guest channel dead: %s\n", why);
	dead = true;
}

static const struct guest_client_ops ops = {
    .on_ready = on_ready,
    .on_dead = on_dead,
};

static void
ping_done(struct guest_client *c, const struct qb_error *err,
    const ProtobufCMessage *resp, void *arg)
{
	(void)c;
	(void)arg;
	last_err = *err;
	last_nonce =
	    resp != NULL
	        ? ((const Qemubox__Guest__V1__PingResponse *)resp)->nonce
	        : 0;
	done = true;
}

static void
run_until(bool *flag, uint64_t timeout_ms)
{
	uint64_t end = evloop_now_ns() + timeout_ms * 1000000;

	while (!*flag && !dead && evloop_now_ns() < end)
		evloop_run_once(loop, 100);
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The host TSC rate for tsc_early_khz, as vmmon passes it (HOST-FACTS). */
static long
host_khz(void)
{
	char line[256];
	double mhz;
	long khz = 0;
	FILE *f;

	if ((f = fopen("/proc/cpuinfo", "r")) == NULL)
		return 0;
	while (khz == 0 && fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "cpu MHz : %lf", &mhz) == 1)
			khz = (long)(mhz * 1000);
	fclose(f);
	return khz;
}

static pid_t
spawn_qemu(int fd, const char *kernel, const char *initrd, const char *console)
{
	char append[128], serial[600], chardev[64];
	pid_t pid;
	int nul;

	snprintf(append, sizeof(append),
	    "console=ttyS0 quiet panic=1 tsc_early_khz=%ld tsc=reliable",
	    host_khz());
	snprintf(serial, sizeof(serial), "file:%s", console);
	snprintf(chardev, sizeof(chardev), "socket,id=chan,fd=%d", fd);
	const char *argv[] = {"qemu-system-x86_64", "-machine", "microvm",
	    "-accel", "tcg", "-cpu", "qemu64,+arat", "-m", "512M", "-smp", "1",
	    "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
	    "-kernel", kernel, "-initrd", initrd, "-append", append, "-serial",
	    serial, "-device", "virtio-serial-device", "-chardev", chardev,
	    "-device", "virtserialport,chardev=chan,name=qemubox.0", NULL};

	if ((pid = fork()) == 0) {
		if ((nul = open("/dev/null", O_RDWR)) >= 0) {
			dup2(nul, 0);
			dup2(nul, 1);
		}
		execvp(argv[0], (char *const *)(uintptr_t)argv);
		_exit(127);
	}
	return pid;
}

int
main(int argc, char **argv)
{
	Qemubox__Guest__V1__PingRequest req;
	Qemubox__Guest__V1__Empty empty;
	struct guest_client *gc = NULL;
	uint64_t *rtt = NULL, t0, t_ready;
	int sv[2], st, n, i, rc = 1;
	pid_t qemu;

	if (argc != 5 || (n = atoi(argv[3])) < 1) {
		fprintf(stderr, "usage: %s KERNEL INITRD N CONSOLE\n", argv[0]);
		return 2;
	}
	log_init("rpc_ping", false);
	signal(SIGPIPE, SIG_IGN);
	if ((rtt = calloc((size_t)n, sizeof(*rtt))) == NULL)
		return 1;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1)
		goto fail;
	/* QEMU inherits sv[1] only. */
	fcntl(sv[1], F_SETFD, 0);
	loop = evloop_new();
	t0 = evloop_now_ns();
	qemu = spawn_qemu(sv[1], argv[1], argv[2], argv[4]);
	close(sv[1]);
	if (qemu == -1)
		goto fail;
	gc = guest_client_new(loop, sv[0], 120000, &ops, NULL);
	run_until(&ready, 130000);
	if (!ready) {
		fprintf(stderr, "rpc_ping: guest not ready\n");
		goto out;
	}
	t_ready = (evloop_now_ns() - t0) / 1000000;
	for (i = 0; i < n; i++) {
		qemubox__guest__v1__ping_request__init(&req);
		req.nonce = (uint64_t)i + 1;
		done = false;
		t0 = evloop_now_ns();
		if (guest_call(gc, "Ping", &req.base,
		        &qemubox__guest__v1__ping_response__descriptor, 10000,
		        ping_done, NULL) == -1)
			goto out;
		run_until(&done, 11000);
		if (!done || last_err.code != QB_E_OK ||
		    last_nonce != req.nonce) {
			fprintf(stderr, "rpc_ping: ping %d failed\n", i);
			goto out;
		}
		rtt[i] = (evloop_now_ns() - t0) / 1000;
	}
	qsort(rtt, (size_t)n, sizeof(*rtt), cmp_u64);
	printf("ready_ms %llu n %d median_us %llu p99_us %llu min_us %llu "
	       "max_us %llu\n",
	    (unsigned long long)t_ready, n, (unsigned long long)rtt[n / 2],
	    (unsigned long long)rtt[(n * 99 + 99) / 100 - 1],
	    (unsigned long long)rtt[0], (unsigned long long)rtt[n - 1]);
	rc = 0;
out:
	qemubox__guest__v1__empty__init(&empty);
	done = false;
	if (!dead && guest_call(gc, "Shutdown", &empty.base, NULL, 5000,
	                 ping_done, NULL) == 0)
		run_until(&done, 6000);
	for (i = 0; i < 100 && waitpid(qemu, &st, WNOHANG) != qemu; i++)
		usleep(50000);
	if (i == 100) {
		kill(qemu, SIGKILL);
		waitpid(qemu, &st, 0);
	}
	guest_client_free(gc);
	close(sv[0]);
	evloop_free(loop);
fail:
	free(rtt);
	return rc;
}
