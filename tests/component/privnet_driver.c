/*
 * Test driver playing the shim toward qemubox-privnet (tests/component/
 * 50-privnet.sh). It spawns privnet with a socketpair on fd 3, as the shim
 * does, and runs the commands given as arguments in order, printing one
 * "key=value ..." line per command:
 *
 *   setup ID NETNS|-       NET_SETUP through the client stubs (keeps the TAP)
 *   teardown ID            NET_TEARDOWN
 *   status ID              NET_STATUS
 *   arp ID                 write ARP requests for the gateway into the TAP,
 *                          report whether a reply came back through it
 *   close-tap ID           drop our TAP fd (as QEMU exiting would)
 *   sh CMD                 run CMD with $PRIVNET_PID set; print its status
 *   kill-in PLUGIN ID      NET_SETUP, SIGKILL privnet while its child
 *                          PLUGIN (e.g. firewall) runs, respawn
 *   abandon ID             NET_SETUP, then close the socket at once (a
 *                          shim dying mid-setup); report privnet's exit
 *   raw TYPE LEN           send an imsg of TYPE with LEN zero bytes; report
 *                          whether privnet closed the connection and exited
 *   raw-setup ID NETNS IF  a NET_SETUP payload with unchecked strings
 *   raw-fd TYPE            a valid-size teardown request carrying an fd
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <net/ethernet.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "imsg/imsg.h"
#include "lib/log.h"
#include "shim/privnet_client.h"

#define MAX_SB 8

static const char *privnet_bin;
static pid_t privnet_pid = -1;
static struct privnet_client *client;

static struct {
	char id[QB_ID_MAX];
	int tap_fd;
	struct qb_net_result res;
} sb[MAX_SB];

static void
spawn(void)
{
	int sp[2];
	char pidbuf[32];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) == -1)
		fatal("socketpair");
	if ((privnet_pid = fork()) == -1)
		fatal("fork");
	if (privnet_pid == 0) {
		if (dup2(sp[1], 3) == -1)
			_exit(127);
		execl(privnet_bin, privnet_bin, "-d", (char *)NULL);
		_exit(127);
	}
	close(sp[1]);
	if ((client = privnet_client_new(sp[0])) == NULL)
		fatal("privnet_client_new");
	snprintf(pidbuf, sizeof(pidbuf), "%d", (int)privnet_pid);
	setenv("PRIVNET_PID", pidbuf, 1);
}

/* Wait for privnet to go away after a protocol violation. */
static void
expect_closed(const char *what)
{
	struct pollfd pfd = {privnet_client_fd(client), POLLIN, 0};
	char buf[256];
	int status = 0, closed = 0;
	ssize_t n;

	while (poll(&pfd, 1, 5000) == 1) {
		n = read(pfd.fd, buf, sizeof(buf));
		if (n <= 0) {
			closed = 1;
			break;
		}
	}
	waitpid(privnet_pid, &status, 0);
	printf("%s closed=%d exited=%d status=%d\n", what, closed,
	    WIFEXITED(status), WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	privnet_client_free(client);
	client = NULL;
	spawn();
}

static int
slot(const char *id, int create)
{
	int i, free_slot = -1;

	for (i = 0; i < MAX_SB; i++) {
		if (sb[i].id[0] && strcmp(sb[i].id, id) == 0)
			return i;
		if (!sb[i].id[0] && free_slot == -1)
			free_slot = i;
	}
	if (!create || free_slot == -1)
		return -1;
	snprintf(sb[free_slot].id, sizeof(sb[free_slot].id), "%s", id);
	sb[free_slot].tap_fd = -1;
	return free_slot;
}

static void
do_setup(const char *id, const char *netns)
{
	struct qb_error err = {0};
	struct qb_net_result res;
	char a[64], g[64];
	int fd, i;

	if (privnet_net_setup(client, id, strcmp(netns, "-") ? netns : "", &res,
	        &fd, &err) == -1) {
		printf("setup id=%s ok=0 code=%d err=\"%s\"\n", id, err.code,
		    err.msg);
		return;
	}
	i = slot(id, 1);
	sb[i].tap_fd = fd;
	sb[i].res = res;
	printf("setup id=%s ok=1 ip=%s gw=%s mac=%02x:%02x:%02x:%02x:%02x:%02x "
	       "mtu=%u tap=%s veth=%s netns=%s nips=%u nroutes=%u ndns=%u "
	       "tapfd=%d\n",
	    id, privnet_addr_str(&res.ips[0], 1, a, sizeof(a)),
	    privnet_addr_str(&res.gateways[0], 0, g, sizeof(g)), res.mac[0],
	    res.mac[1], res.mac[2], res.mac[3], res.mac[4], res.mac[5], res.mtu,
	    res.tap_name, res.veth_name, res.netns_path, res.n_ips,
	    res.n_routes, res.n_dns, fd >= 0);
}

/* NET_SETUP in two steps: the TAP first (its fd kept), then the CNI chain. */
static void
do_tap(const char *id)
{
	struct qb_error err = {0};
	struct qb_net_tap t;
	int fd, i;

	if (privnet_net_tap(client, id, &t, &fd, &err) == -1) {
		printf("tap id=%s ok=0 code=%d err=\"%s\"\n", id, err.code,
		    err.msg);
		return;
	}
	i = slot(id, 1);
	sb[i].tap_fd = fd;
	printf("tap id=%s ok=1 mac=%02x:%02x:%02x:%02x:%02x:%02x tap=%s "
	       "netns=%s tapfd=%d\n",
	    id, t.mac[0], t.mac[1], t.mac[2], t.mac[3], t.mac[4], t.mac[5],
	    t.tap_name, t.netns_path, fd >= 0);
}

static void
do_wire(const char *id)
{
	struct qb_error err = {0};
	struct qb_net_result res;
	char a[64], g[64];
	int i;

	if (privnet_net_wire(client, id, &res, &err) == -1) {
		printf("wire id=%s ok=0 code=%d err=\"%s\"\n", id, err.code,
		    err.msg);
		return;
	}
	if ((i = slot(id, 1)) != -1)
		sb[i].res = res;
	printf("wire id=%s ok=1 ip=%s gw=%s mac=%02x:%02x:%02x:%02x:%02x:%02x "
	       "mtu=%u tap=%s veth=%s netns=%s\n",
	    id, privnet_addr_str(&res.ips[0], 1, a, sizeof(a)),
	    privnet_addr_str(&res.gateways[0], 0, g, sizeof(g)), res.mac[0],
	    res.mac[1], res.mac[2], res.mac[3], res.mac[4], res.mac[5], res.mtu,
	    res.tap_name, res.veth_name, res.netns_path);
}

static void
do_teardown(const char *id)
{
	struct qb_error err = {0};

	if (privnet_net_teardown(client, id, &err) == -1)
		printf("teardown id=%s ok=0 err=\"%s\"\n", id, err.msg);
	else
		printf("teardown id=%s ok=1\n", id);
}

static void
do_status(const char *id)
{
	struct qb_error err = {0};
	struct qb_net_status st;

	if (privnet_net_status(client, id, &st, &err) == -1)
		printf("status id=%s ok=0 err=\"%s\"\n", id, err.msg);
	else
		printf("status id=%s ok=1 state=%u netns=%s network=%s\n", id,
		    st.state, st.netns_path, st.network);
}

/* virtio_net_hdr (10 bytes, all zero: no offloads) + an ARP request. */
static void
do_arp(const char *id)
{
	unsigned char f[10 + 42], in[2048];
	struct qb_net_result *r;
	struct pollfd pfd;
	int i, got = 0, sent = 0, tries;
	ssize_t n;

	if ((i = slot(id, 0)) == -1 || sb[i].tap_fd == -1) {
		printf("arp id=%s sent=0 reply=0\n", id);
		return;
	}
	r = &sb[i].res;
	memset(f, 0, sizeof(f));
	unsigned char *e = f + 10;
	memset(e, 0xff, 6);
	memcpy(e + 6, r->mac, 6);
	e[12] = 0x08, e[13] = 0x06;
	unsigned char *a = e + 14;
	a[1] = 1;                 /* htype ethernet */
	a[2] = 0x08, a[3] = 0x00; /* ptype IPv4 */
	a[4] = 6, a[5] = 4;
	a[7] = 1; /* request */
	memcpy(a + 8, r->mac, 6);
	memcpy(a + 14, r->ips[0].addr, 4);
	memcpy(a + 24, r->gateways[0].addr, 4);
	for (tries = 0; tries < 5 && !got; tries++) {
		if (write(sb[i].tap_fd, f, sizeof(f)) == (ssize_t)sizeof(f))
			sent++;
		pfd.fd = sb[i].tap_fd;
		pfd.events = POLLIN;
		while (!got && poll(&pfd, 1, 400) == 1) {
			n = read(sb[i].tap_fd, in, sizeof(in));
			/* An ARP reply (oper 2) from the gateway to us. */
			if (n >= 10 + 42 && in[10 + 12] == 0x08 &&
			    in[10 + 13] == 0x06 && in[10 + 14 + 7] == 2 &&
			    memcmp(in + 10 + 14 + 14, r->gateways[0].addr, 4) ==
			        0)
				got = 1;
		}
	}
	printf("arp id=%s sent=%d reply=%d\n", id, sent, got);
}

/* Is a child of privnet running `plugin` (by comm)? */
static int
plugin_running(const char *plugin)
{
	char path[64], kids[1024], comm[64];
	char *tok, *save;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/children",
	    (int)privnet_pid, (int)privnet_pid);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	n = fread(kids, 1, sizeof(kids) - 1, f);
	fclose(f);
	kids[n] = '\0';
	for (tok = strtok_r(kids, " \n", &save); tok != NULL;
	     tok = strtok_r(NULL, " \n", &save)) {
		snprintf(path, sizeof(path), "/proc/%s/comm", tok);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		n = fread(comm, 1, sizeof(comm) - 1, f);
		fclose(f);
		comm[n] = '\0';
		comm[strcspn(comm, "\n")] = '\0';
		if (strcmp(comm, plugin) == 0)
			return 1;
	}
	return 0;
}

static void
do_kill_in(const char *plugin, const char *id)
{
	struct qb_error err = {0};
	struct timespec ts = {0, 500000};
	int status, i, seen = 0;

	if (privnet_net_setup_async(client, id, "", NULL, NULL, &err) == -1)
		fatalx("setup_async: %s", err.msg);
	privnet_client_write(client);
	for (i = 0; i < 20000 && !(seen = plugin_running(plugin)); i++)
		nanosleep(&ts, NULL);
	kill(privnet_pid, SIGKILL);
	waitpid(privnet_pid, &status, 0);
	printf("kill-in id=%s plugin=%s seen=%d killed=%d\n", id, plugin, seen,
	    WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	/* The pending setup has no callback: drop it with the client. */
	privnet_client_free(client);
	client = NULL;
	spawn();
}

static void
do_abandon(const char *id)
{
	struct qb_error err = {0};
	int status;

	if (privnet_net_setup_async(client, id, "", NULL, NULL, &err) == -1)
		fatalx("setup_async: %s", err.msg);
	privnet_client_write(client);
	privnet_client_free(client);
	client = NULL;
	waitpid(privnet_pid, &status, 0);
	printf("abandon id=%s exited=%d status=%d\n", id, WIFEXITED(status),
	    WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	spawn();
}

static void
send_raw(uint32_t type, const void *data, size_t len, int fd)
{
	struct imsgbuf ib;

	/* A second imsgbuf on the same socket: bytes the stubs would refuse
	 * to build. */
	imsg_init(&ib, privnet_client_fd(client));
	if (imsg_compose(&ib, type, 77, 0, fd, data, len) == -1 ||
	    imsg_flush(&ib) == -1)
		fatal("raw imsg");
	imsg_clear(&ib);
}

int
main(int argc, char *argv[])
{
	int i, k;

	log_init("privnet-driver", 0);
	signal(SIGPIPE, SIG_IGN);
	if (argc < 2) {
		fprintf(stderr, "usage: privnet_driver PRIVNET_BIN cmd...\n");
		return 2;
	}
	privnet_bin = argv[1];
	setvbuf(stdout, NULL, _IOLBF, 0);
	spawn();
	for (i = 2; i < argc; i++) {
		const char *c = argv[i];

#define NEED(n)                                                \
	do {                                                   \
		if (i + (n) >= argc)                           \
			fatalx("%s needs %d arguments", c, n); \
	} while (0)
		if (strcmp(c, "setup") == 0) {
			NEED(2);
			do_setup(argv[i + 1], argv[i + 2]);
			i += 2;
		} else if (strcmp(c, "tap") == 0) {
			NEED(1);
			do_tap(argv[++i]);
		} else if (strcmp(c, "wire") == 0) {
			NEED(1);
			do_wire(argv[++i]);
		} else if (strcmp(c, "teardown") == 0) {
			NEED(1);
			do_teardown(argv[++i]);
		} else if (strcmp(c, "status") == 0) {
			NEED(1);
			do_status(argv[++i]);
		} else if (strcmp(c, "arp") == 0) {
			NEED(1);
			do_arp(argv[++i]);
		} else if (strcmp(c, "close-tap") == 0) {
			NEED(1);
			if ((k = slot(argv[++i], 0)) != -1 &&
			    sb[k].tap_fd != -1) {
				close(sb[k].tap_fd);
				sb[k].tap_fd = -1;
			}
			printf("close-tap id=%s\n", argv[i]);
		} else if (strcmp(c, "sh") == 0) {
			NEED(1);
			int st = system(argv[++i]);
			printf("sh status=%d\n",
			    WIFEXITED(st) ? WEXITSTATUS(st) : -1);
		} else if (strcmp(c, "abandon") == 0) {
			NEED(1);
			do_abandon(argv[++i]);
		} else if (strcmp(c, "kill-in") == 0) {
			NEED(2);
			do_kill_in(argv[i + 1], argv[i + 2]);
			i += 2;
		} else if (strcmp(c, "raw") == 0) {
			NEED(2);
			size_t len = (size_t)atol(argv[i + 2]);
			char *zero = calloc(1, len + 1);
			send_raw((uint32_t)atol(argv[i + 1]), zero, len, -1);
			free(zero);
			i += 2;
			expect_closed("raw");
		} else if (strcmp(c, "raw-setup") == 0) {
			NEED(3);
			struct qb_net_setup_req req;
			memset(&req, 0, sizeof(req));
			/* Deliberately unchecked: overlong ids fill the array
			 * with no NUL. */
			const char *ns =
			    strcmp(argv[i + 2], "-") ? argv[i + 2] : "";
			memcpy(req.sandbox_id, argv[i + 1],
			    strnlen(argv[i + 1], sizeof(req.sandbox_id)));
			memcpy(req.netns_path, ns,
			    strnlen(ns, sizeof(req.netns_path)));
			memcpy(req.ifname, argv[i + 3],
			    strnlen(argv[i + 3], sizeof(req.ifname)));
			send_raw(IMSG_NET_SETUP_REQ, &req, sizeof(req), -1);
			i += 3;
			expect_closed("raw-setup");
		} else if (strcmp(c, "raw-fd") == 0) {
			NEED(1);
			struct qb_net_id_req req;
			memset(&req, 0, sizeof(req));
			strcpy(req.sandbox_id, "fdtest");
			send_raw((uint32_t)atol(argv[++i]), &req, sizeof(req),
			    open("/dev/null", O_RDONLY));
			expect_closed("raw-fd");
		} else
			fatalx("unknown command %s", c);
	}
	for (k = 0; k < MAX_SB; k++)
		if (sb[k].tap_fd != -1 && sb[k].id[0])
			close(sb[k].tap_fd);
	privnet_client_free(client);
	waitpid(privnet_pid, NULL, 0);
	return 0;
}
