/*
 * qemubox-privnet: the root network helper. Started by the shim daemon with
 * its imsg socket on fd 3 (lib/proc_spawn), it cuts its capabilities, reads
 * the configuration itself (the CNI directories are never taken from the
 * shim), installs its seccomp filter and then serves exactly NET_SETUP,
 * NET_TEARDOWN and NET_STATUS, one at a time, in order. Anything else, or a
 * request of the wrong size or with a name it cannot validate, ends the
 * connection and the process: the shim treats that as a dead sandbox.
 * privnet exits when the shim's end closes.
 */
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "imsg/imsg.h"
#include "imsg/qemubox_imsg.h"
#include "lib/config.h"
#include "lib/log.h"
#include "lib/malloc_tune.h"
#include "lib/startprof.h"
#include "privnet/privnet.h"
#include "seccomp/seccomp.h"

static struct qb_config cfg;
static struct netdb *db;

static int privnet_dispatch_shim(struct imsgbuf *);

static int
flush(struct imsgbuf *ibuf)
{
	struct pollfd pfd = {ibuf->fd, POLLOUT, 0};

	while (msgbuf_queuelen(&ibuf->w) > 0) {
		if (imsg_flush(ibuf) == 0)
			break;
		if (errno != EAGAIN && errno != EINTR)
			return -1;
		poll(&pfd, 1, -1);
	}
	return 0;
}

static void
flush_or_die(struct imsgbuf *ibuf)
{
	if (flush(ibuf) == -1)
		fatal("flush: write to the shim");
}

/* Answers a request with its _RES and its payload, sent at once. */
static void
reply(struct imsgbuf *ibuf, uint32_t type, uint32_t peerid, const void *data,
    size_t len)
{
	if (imsg_compose(ibuf, type, peerid, 0, -1, data, len) == -1)
		fatal("%s: imsg_compose", __func__);
	flush_or_die(ibuf);
}

static void
reply_error(struct imsgbuf *ibuf, uint32_t peerid, uint32_t req_type,
    const struct qb_error *err)
{
	if (qb_imsg_compose_error(
	        ibuf, peerid, req_type, errno, err->code, err->msg) == -1)
		fatal("%s: imsg_compose", __func__);
	flush_or_die(ibuf);
}

/* A sandbox id field: NUL-terminated inside the array and well-formed. */
static int
valid_id_field(const char *field, size_t len)
{
	return qb_imsg_check_strfield(field, len) > 0 &&
	       privnet_valid_id(field);
}

/* The requests privnet serves; none carries an fd. */
static const struct qb_imsg_shape shapes[] = {
    {IMSG_NET_SETUP_REQ, sizeof(struct qb_net_setup_req), 0},
    {IMSG_NET_TEARDOWN_REQ, sizeof(struct qb_net_id_req), 0},
    {IMSG_NET_STATUS_REQ, sizeof(struct qb_net_id_req), 0},
    {IMSG_NET_TAP_REQ, sizeof(struct qb_net_setup_req), 0},
    {IMSG_NET_WIRE_REQ, sizeof(struct qb_net_id_req), 0},
};

/* The bad-peer policy (qemubox_imsg.h): nothing to undo here. */
static __attribute__((noreturn)) void
kill_connection(const char *why, uint32_t type)
{
	qb_imsg_kill_peer("privnet_dispatch_shim", why, type, NULL);
}

/*
 * The shim went away while the plugins ran: nobody will ever use or remove
 * what was set up.
 */
static __attribute__((noreturn)) void
answer_lost(const char *id)
{
	log_warn("%s: %s: answer lost, undoing the setup", __func__, id);
	privnet_net_undo_own(&cfg, db, id);
	exit(1);
}

static int
privnet_dispatch_shim(struct imsgbuf *ibuf)
{
	struct qb_net_setup_req sreq;
	struct qb_net_id_req ireq;
	struct qb_net_result res;
	struct qb_net_tap tap;
	struct qb_net_status st;
	struct netdb_rec rec;
	struct qb_error err;
	struct imsg imsg;
	uint32_t type, peerid;
	const char *why;
	ssize_t n;
	int fd, tap_fd;

	for (;;) {
		if ((n = imsg_get(ibuf, &imsg)) == -1)
			kill_connection("unreadable message", 0);
		if (n == 0)
			return 0;
		type = imsg_get_type(&imsg);
		peerid = imsg_get_id(&imsg);
		qb_clearerr(&err);

		/* First validate everything, then act. */
		if ((fd = imsg_get_fd(&imsg)) != -1)
			close(fd);
		if (qb_imsg_shape_check(shapes,
		        sizeof(shapes) / sizeof(shapes[0]), type,
		        imsg_get_len(&imsg), fd != -1, &why) == NULL)
			kill_connection(why, type);
		switch (type) {
		case IMSG_NET_SETUP_REQ:
		case IMSG_NET_TAP_REQ:
			if (qb_imsg_get_struct(&imsg, &sreq, sizeof(sreq)) ==
			    -1)
				kill_connection("wrong payload size", type);
			if (!valid_id_field(
			        sreq.sandbox_id, sizeof(sreq.sandbox_id)))
				kill_connection("invalid sandbox id", type);
			if (qb_imsg_check_strfield(
			        sreq.netns_path, sizeof(sreq.netns_path)) < 0 ||
			    (sreq.netns_path[0] != '\0' &&
			        !privnet_valid_netns_path(sreq.netns_path)))
				kill_connection(
				    "netns path outside /run/netns", type);
			if (qb_imsg_check_strfield(
			        sreq.ifname, sizeof(sreq.ifname)) < 0 ||
			    (sreq.ifname[0] != '\0' &&
			        !privnet_valid_ifname(sreq.ifname)))
				kill_connection("invalid interface name", type);
			if (type == IMSG_NET_TAP_REQ &&
			    sreq.netns_path[0] != '\0')
				kill_connection("NET_TAP names a netns", type);
			break;
		case IMSG_NET_TEARDOWN_REQ:
		case IMSG_NET_STATUS_REQ:
		case IMSG_NET_WIRE_REQ:
			if (qb_imsg_get_struct(&imsg, &ireq, sizeof(ireq)) ==
			    -1)
				kill_connection("wrong payload size", type);
			if (!valid_id_field(
			        ireq.sandbox_id, sizeof(ireq.sandbox_id)))
				kill_connection("invalid sandbox id", type);
			break;
		default:
			kill_connection("unexpected message type", type);
		}
		imsg_free(&imsg);

		switch (type) {
		case IMSG_NET_SETUP_REQ:
			if (privnet_net_do_setup(&cfg, db, sreq.sandbox_id,
			        sreq.netns_path, sreq.ifname, &res, &tap_fd,
			        &err) == -1) {
				reply_error(ibuf, peerid, type, &err);
				break;
			}
			/* imsg owns tap_fd now and closes it once sent: the
			 * TAP lives as long as QEMU holds it. */
			if (imsg_compose(ibuf, IMSG_NET_SETUP_RES, peerid, 0,
			        tap_fd, &res, sizeof(res)) == -1 ||
			    flush(ibuf) == -1)
				answer_lost(sreq.sandbox_id);
			break;
		case IMSG_NET_TAP_REQ:
			if (privnet_net_do_tap(&cfg, db, sreq.sandbox_id, &tap,
			        &tap_fd, &err) == -1) {
				reply_error(ibuf, peerid, type, &err);
				break;
			}
			if (imsg_compose(ibuf, IMSG_NET_TAP_RES, peerid, 0,
			        tap_fd, &tap, sizeof(tap)) == -1 ||
			    flush(ibuf) == -1)
				answer_lost(sreq.sandbox_id);
			break;
		case IMSG_NET_WIRE_REQ:
			if (privnet_net_do_wire(
			        &cfg, db, ireq.sandbox_id, &res, &err) == -1) {
				reply_error(ibuf, peerid, type, &err);
				break;
			}
			if (imsg_compose(ibuf, IMSG_NET_WIRE_RES, peerid, 0, -1,
			        &res, sizeof(res)) == -1 ||
			    flush(ibuf) == -1)
				answer_lost(ireq.sandbox_id);
			break;
		case IMSG_NET_TEARDOWN_REQ:
			if (privnet_net_do_teardown(
			        &cfg, db, ireq.sandbox_id, &err) == -1) {
				reply_error(ibuf, peerid, type, &err);
				break;
			}
			reply(ibuf, IMSG_NET_TEARDOWN_RES, peerid, &ireq,
			    sizeof(ireq));
			break;
		case IMSG_NET_STATUS_REQ:
			memset(&st, 0, sizeof(st));
			memcpy(st.sandbox_id, ireq.sandbox_id,
			    sizeof(st.sandbox_id));
			if (netdb_get(db, ireq.sandbox_id, &rec) == 0) {
				st.state = rec.state;
				memcpy(st.netns_path, rec.netns,
				    sizeof(st.netns_path));
				memcpy(st.network, rec.network,
				    sizeof(st.network));
				netdb_rec_free(&rec);
			} else if (errno != ENOENT) {
				qb_seterr(&err, QB_E_INTERNAL,
				    "read network state: %s", strerror(errno));
				reply_error(ibuf, peerid, type, &err);
				break;
			}
			reply(
			    ibuf, IMSG_NET_STATUS_RES, peerid, &st, sizeof(st));
			break;
		}
	}
}

static __attribute__((noreturn)) void
usage(void)
{
	fprintf(stderr, "usage: qemubox-privnet [-d] [-f fd]\n");
	exit(2);
}

int
main(int argc, char *argv[])
{
	struct imsgbuf ibuf;
	struct qb_error err = {0};
	int ch, fd = 3, debug = 0;
	char *end;

	if (argc == 2 &&
	    (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		printf(
		    "usage: qemubox-privnet [-d] [-f fd]\n"
		    "The network helper of containerd-shim-qemubox-v1, which "
		    "starts it:\nsets up and tears down the sandboxes' netns, "
		    "CNI and TAP devices, on\nrequests over the imsg socket "
		    "fd (default 3). Not run by hand.\n"
		    "  -d  debug logging\n");
		return 0;
	}
	log_init("qemubox-privnet", 0);
	startprof_mark("exec");
	qb_malloc_tune();
	/* Cut capabilities before reading anything from anyone. */
	if (privnet_priv_drop() == -1)
		fatal("privnet_priv_drop");
	startprof_mark("drop");

	while ((ch = getopt(argc, argv, "df:")) != -1) {
		switch (ch) {
		case 'd':
			debug = 1;
			break;
		case 'f':
			errno = 0;
			fd = (int)strtol(optarg, &end, 10);
			if (errno || *end || fd < 3)
				usage();
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	log_init("qemubox-privnet", debug);
	signal(SIGPIPE, SIG_IGN);

	if (qb_config_load_in_place(qb_config_path(), &cfg, &err) == -1)
		fatalx("%s", err.msg);
	if (log_get_debug() == 0 && cfg.runtime.debug)
		log_init("qemubox-privnet", 1);
	startprof_mark("config");
	privnet_net_set_owner(getppid());
	if (netdb_open(cfg.paths.state_dir, &db) == -1)
		fatal("open %s/cni-config.db", cfg.paths.state_dir);
	startprof_mark("netdb");
	if (seccomp_apply_privnet(cfg.security.seccomp) == -1)
		fatal("seccomp_apply_privnet");
	startprof_mark("seccomp");
	startprof_report(__func__);

	imsg_init(&ibuf, fd);
	(void)qb_imsg_serve(&ibuf, privnet_dispatch_shim, 0, NULL);
	imsg_clear(&ibuf);
	netdb_close(db);
	return 0;
}
