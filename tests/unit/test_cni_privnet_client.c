/*
 * shim/privnet_client against a fake privnet on a socketpair: requests on
 * the wire, answers routed to the right callback with the TAP fd, errors
 * carried through, and a peer that answers out of turn cut off. Also the
 * LMDB state (privnet/netdb.c) round trip.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "imsg/imsg.h"
#include "privnet/privnet.h"
#include "shim/privnet_client.h"

struct fake {
	int sp[2];
	struct imsgbuf ib; /* privnet's end */
	struct privnet_client *c;
};

static int
fake_setup(void **state)
{
	struct fake *f = calloc(1, sizeof(*f));

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, f->sp), 0);
	imsg_init(&f->ib, f->sp[1]);
	f->c = privnet_client_new(f->sp[0]);
	assert_non_null(f->c);
	*state = f;
	return 0;
}

static int
fake_teardown(void **state)
{
	struct fake *f = *state;

	privnet_client_free(f->c);
	imsg_clear(&f->ib);
	close(f->sp[1]);
	free(f);
	return 0;
}

/* The next request privnet would see. */
static uint32_t
fake_recv(struct fake *f, struct imsg *imsg)
{
	ssize_t n;

	for (;;) {
		if ((n = imsg_get(&f->ib, imsg)) > 0)
			return imsg_get_type(imsg);
		assert_int_not_equal(n, -1);
		assert_true(imsg_read(&f->ib) > 0);
	}
}

static void
fake_send(struct fake *f, uint32_t type, uint32_t id, int fd, const void *data,
    size_t len)
{
	assert_int_not_equal(
	    imsg_compose(&f->ib, type, id, 0, fd, data, len), -1);
	assert_int_equal(imsg_flush(&f->ib), 0);
}

struct got {
	int calls;
	int code;
	char msg[1024];
	struct qb_net_result res;
	int fd;
};

static void
on_setup(void *arg, const struct qb_net_result *res, int fd,
    const struct qb_error *err)
{
	struct got *g = arg;

	g->calls++;
	g->fd = fd;
	if (err) {
		g->code = err->code;
		snprintf(g->msg, sizeof(g->msg), "%s", err->msg);
	} else
		g->res = *res;
}

static void
on_done(void *arg, const struct qb_error *err)
{
	struct got *g = arg;

	g->calls++;
	g->code = err ? err->code : 0;
	if (err)
		snprintf(g->msg, sizeof(g->msg), "%s", err->msg);
}

static void
test_setup_roundtrip(void **state)
{
	struct fake *f = *state;
	struct qb_error err = {0};
	struct qb_net_setup_req req;
	struct qb_net_result res;
	struct got g = {0};
	struct imsg imsg;
	int p[2];
	char c = 0;

	assert_int_equal(
	    privnet_net_setup_async(f->c, "sb-1", "", on_setup, &g, &err), 0);
	assert_int_equal(fake_recv(f, &imsg), IMSG_NET_SETUP_REQ);
	assert_int_equal(imsg_get_len(&imsg), sizeof(req));
	assert_int_equal(qb_imsg_get_struct(&imsg, &req, sizeof(req)), 0);
	assert_string_equal(req.sandbox_id, "sb-1");
	assert_string_equal(req.netns_path, "");
	assert_string_equal(req.ifname, "");
	uint32_t id = imsg_get_id(&imsg);
	imsg_free(&imsg);

	memset(&res, 0, sizeof(res));
	strcpy(res.tap_name, "qbtap0");
	res.mtu = 1450;
	res.n_ips = 1;
	res.ips[0].family = AF_INET;
	assert_int_equal(pipe(p), 0);
	fake_send(f, IMSG_NET_SETUP_RES, id, p[1], &res, sizeof(res));
	assert_int_equal(privnet_client_read(f->c), 0);
	assert_int_equal(g.calls, 1);
	assert_int_equal(g.res.mtu, 1450);
	assert_string_equal(g.res.tap_name, "qbtap0");
	/* The fd that arrived is the pipe's write end. */
	assert_int_equal(write(g.fd, "x", 1), 1);
	assert_int_equal(read(p[0], &c, 1), 1);
	assert_int_equal(c, 'x');
	close(g.fd);
	close(p[0]);
}

static void
test_error_and_order(void **state)
{
	struct fake *f = *state;
	struct qb_error err = {0};
	struct qb_imsg_error e;
	struct qb_net_id_req ack;
	struct got g1 = {0}, g2 = {0};
	struct imsg imsg;
	uint32_t id1, id2;

	assert_int_equal(privnet_net_setup_async(
	                     f->c, "a", "/run/netns/x", on_setup, &g1, &err),
	    0);
	assert_int_equal(
	    privnet_net_teardown_async(f->c, "b", on_done, &g2, &err), 0);
	assert_int_equal(fake_recv(f, &imsg), IMSG_NET_SETUP_REQ);
	id1 = imsg_get_id(&imsg);
	imsg_free(&imsg);
	assert_int_equal(fake_recv(f, &imsg), IMSG_NET_TEARDOWN_REQ);
	id2 = imsg_get_id(&imsg);
	imsg_free(&imsg);
	assert_int_not_equal(id1, id2);

	memset(&e, 0, sizeof(e));
	e.req_type = IMSG_NET_SETUP_REQ;
	e.code = QB_E_PRECONDITION;
	strcpy(e.msg, "no *.conflist in CNI config dir /etc/cni/net.d");
	fake_send(f, IMSG_ERROR, id1, -1, &e, sizeof(e));
	memset(&ack, 0, sizeof(ack));
	strcpy(ack.sandbox_id, "b");
	fake_send(f, IMSG_NET_TEARDOWN_RES, id2, -1, &ack, sizeof(ack));
	assert_int_equal(privnet_client_read(f->c), 0);
	assert_int_equal(g1.calls, 1);
	assert_int_equal(g1.code, QB_E_PRECONDITION);
	assert_string_equal(
	    g1.msg, "no *.conflist in CNI config dir /etc/cni/net.d");
	assert_int_equal(g1.fd, -1);
	assert_int_equal(g2.calls, 1);
	assert_int_equal(g2.code, 0);
}

static void
test_out_of_turn_kills(void **state)
{
	struct fake *f = *state;
	struct qb_error err = {0};
	struct qb_net_id_req ack;
	struct got g = {0}, g2 = {0};
	struct imsg imsg;

	assert_int_equal(
	    privnet_net_teardown_async(f->c, "a", on_done, &g, &err), 0);
	assert_int_equal(fake_recv(f, &imsg), IMSG_NET_TEARDOWN_REQ);
	imsg_free(&imsg);
	/* An answer to a request never made. */
	memset(&ack, 0, sizeof(ack));
	fake_send(f, IMSG_NET_TEARDOWN_RES, 999, -1, &ack, sizeof(ack));
	assert_int_equal(privnet_client_read(f->c), -1);
	assert_int_equal(g.calls, 1);
	assert_int_equal(g.code, QB_E_UNAVAILABLE);
	/* Dead for good. */
	assert_int_equal(
	    privnet_net_teardown_async(f->c, "a", on_done, &g2, &err), -1);
	assert_int_equal(err.code, QB_E_UNAVAILABLE);
	assert_int_equal(g2.calls, 0);
}

static void
test_wrong_size_kills(void **state)
{
	struct fake *f = *state;
	struct qb_error err = {0};
	struct got g = {0};
	struct imsg imsg;
	char small[8] = {0};

	assert_int_equal(
	    privnet_net_setup_async(f->c, "a", "", on_setup, &g, &err), 0);
	assert_int_equal(fake_recv(f, &imsg), IMSG_NET_SETUP_REQ);
	uint32_t id = imsg_get_id(&imsg);
	imsg_free(&imsg);
	fake_send(f, IMSG_NET_SETUP_RES, id, -1, small, sizeof(small));
	assert_int_equal(privnet_client_read(f->c), -1);
	assert_int_equal(g.code, QB_E_UNAVAILABLE);
}

static void
test_peer_gone(void **state)
{
	struct fake *f = *state;
	struct qb_error err = {0};
	struct got g = {0};

	assert_int_equal(
	    privnet_net_teardown_async(f->c, "a", on_done, &g, &err), 0);
	shutdown(f->sp[1], SHUT_RDWR);
	assert_int_equal(privnet_client_read(f->c), -1);
	assert_int_equal(g.calls, 1);
	assert_int_equal(g.code, QB_E_UNAVAILABLE);
	assert_non_null(strstr(g.msg, "qemubox-privnet: closed the channel"));
}

/*
 * The write of a request fails (privnet is gone): the callback runs once
 * with Unavailable, before the call returns, and nothing touches the freed
 * entry afterwards (ASan).
 */
static void
test_write_fails_on_request(void **state)
{
	struct fake *f = *state;
	struct qb_error err = {0};
	struct got g = {0};

	signal(SIGPIPE, SIG_IGN);
	shutdown(f->sp[1], SHUT_RDWR);
	assert_int_equal(
	    privnet_net_teardown_async(f->c, "a", on_done, &g, &err), 0);
	assert_int_equal(g.calls, 1);
	assert_int_equal(g.code, QB_E_UNAVAILABLE);
	assert_non_null(strstr(g.msg, "qemubox-privnet: write: "));
	assert_int_equal(privnet_net_teardown(f->c, "a", &err), -1);
	assert_int_equal(err.code, QB_E_UNAVAILABLE);
	signal(SIGPIPE, SIG_DFL);
}

static void
test_client_validates(void **state)
{
	struct fake *f = *state;
	struct qb_error err = {0};
	char longid[QB_ID_MAX + 8];

	memset(longid, 'a', sizeof(longid) - 1);
	longid[sizeof(longid) - 1] = '\0';
	assert_int_equal(
	    privnet_net_teardown_async(f->c, longid, on_done, NULL, &err), -1);
	assert_int_equal(err.code, QB_E_INVALID);
	assert_false(privnet_client_want_write(f->c));
}

/* The blocking form, with privnet in a child process. */
static void
test_blocking_status(void **state)
{
	struct fake *f = *state;
	struct qb_error err = {0};
	struct qb_net_status st;
	pid_t pid;
	int wst;

	if ((pid = fork()) == 0) {
		/* No cmocka asserts in the child: plain exits only. */
		struct imsg imsg;
		struct qb_net_id_req req;
		struct qb_net_status s;
		ssize_t n;

		while ((n = imsg_get(&f->ib, &imsg)) == 0)
			if (imsg_read(&f->ib) <= 0)
				_exit(1);
		if (n == -1 || imsg_get_type(&imsg) != IMSG_NET_STATUS_REQ ||
		    qb_imsg_get_struct(&imsg, &req, sizeof(req)) == -1)
			_exit(1);
		memset(&s, 0, sizeof(s));
		memcpy(s.sandbox_id, req.sandbox_id, sizeof(s.sandbox_id));
		s.state = QB_NET_STATE_READY;
		strcpy(s.netns_path, "/run/netns/qemubox-x");
		if (imsg_compose(&f->ib, IMSG_NET_STATUS_RES,
		        imsg_get_id(&imsg), 0, -1, &s, sizeof(s)) == -1 ||
		    imsg_flush(&f->ib) == -1)
			_exit(1);
		_exit(0);
	}
	alarm(20); /* a broken client must not hang the suite */
	assert_int_equal(privnet_net_status(f->c, "x", &st, &err), 0);
	assert_int_equal(st.state, QB_NET_STATE_READY);
	assert_string_equal(st.netns_path, "/run/netns/qemubox-x");
	assert_int_equal(waitpid(pid, &wst, 0), pid);
	assert_int_equal(WEXITSTATUS(wst), 0);
	alarm(0);
}

static int
rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return flag == FTW_DP ? rmdir(p) : unlink(p);
}

static int
count_rec(const struct netdb_rec *rec, void *arg)
{
	(void)rec;
	(*(int *)arg)++;
	return 0;
}

/* The record's owner, judged by the rule privnet applies (net_claim.c). */
static int
owner_alive(const struct netdb_rec *r)
{
	struct net_facts f;

	memset(&f, 0, sizeof(f));
	f.has_record = 1;
	f.owner_pid = r->owner_pid;
	f.owner_start = r->owner_start;
	f.owner_start_now = owner_proc_start(r->owner_pid);
	f.netns_users = -1;
	return net_claim_decide(&f, NULL, 0) == NET_CLAIM_LIVE;
}

static void
test_netdb(void **state)
{
	char dir[PATH_MAX];
	struct netdb *db;
	struct netdb_rec rec, got;
	int n = 0;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/qb-netdb-XXXXXX",
	    getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	assert_non_null(mkdtemp(dir));
	strcat(dir, "/state");
	assert_int_equal(netdb_open(dir, &db), 0);

	memset(&rec, 0, sizeof(rec));
	strcpy(rec.id, "sb1");
	rec.state = QB_NET_STATE_ADDING;
	rec.own_netns = 1;
	strcpy(rec.netns, "/run/netns/qemubox-sb1");
	strcpy(rec.network, "qemubox-net");
	strcpy(rec.veth, "eth0");
	rec.owner_pid = 1;
	rec.owner_start = owner_proc_start(1);
	rec.conflist = "{\"a\":\"b\\\"c\"}";
	assert_int_equal(netdb_put(db, &rec), 0);
	assert_int_equal(netdb_get(db, "sb1", &got), 0);
	assert_string_equal(got.netns, rec.netns);
	assert_string_equal(got.conflist, rec.conflist);
	assert_null(got.result);
	assert_int_equal(got.state, QB_NET_STATE_ADDING);
	assert_true(owner_alive(&got));
	netdb_rec_free(&got);

	rec.result = "{\"cniVersion\":\"1.0.0\"}";
	rec.state = QB_NET_STATE_READY;
	assert_int_equal(netdb_put(db, &rec), 0);
	strcpy(rec.id, "sb2");
	rec.owner_pid = 999999999;
	assert_int_equal(netdb_put(db, &rec), 0);
	assert_int_equal(netdb_get(db, "sb2", &got), 0);
	assert_false(owner_alive(&got));
	netdb_rec_free(&got);
	assert_int_equal(netdb_foreach(db, count_rec, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(netdb_del(db, "sb1"), 0);
	assert_int_equal(netdb_del(db, "sb1"), 0); /* idempotent */
	assert_int_equal(netdb_get(db, "sb1", &got), -1);
	assert_int_equal(errno, ENOENT);
	netdb_close(db);

	/* Reopen: what was committed is there. */
	assert_int_equal(netdb_open(dir, &db), 0);
	assert_int_equal(netdb_get(db, "sb2", &got), 0);
	assert_string_equal(got.result, "{\"cniVersion\":\"1.0.0\"}");
	netdb_rec_free(&got);
	netdb_close(db);

	/* Records that are not ours are refused. */
	assert_int_equal(netdb_rec_decode("{\"id\":\"../x\"}", 13, &got), -1);
	assert_int_equal(netdb_rec_decode("[]", 2, &got), -1);
	*strrchr(dir, '/') = '\0';
	nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
	        test_setup_roundtrip, fake_setup, fake_teardown),
	    cmocka_unit_test_setup_teardown(
	        test_error_and_order, fake_setup, fake_teardown),
	    cmocka_unit_test_setup_teardown(
	        test_out_of_turn_kills, fake_setup, fake_teardown),
	    cmocka_unit_test_setup_teardown(
	        test_wrong_size_kills, fake_setup, fake_teardown),
	    cmocka_unit_test_setup_teardown(
	        test_peer_gone, fake_setup, fake_teardown),
	    cmocka_unit_test_setup_teardown(
	        test_write_fails_on_request, fake_setup, fake_teardown),
	    cmocka_unit_test_setup_teardown(
	        test_client_validates, fake_setup, fake_teardown),
	    cmocka_unit_test_setup_teardown(
	        test_blocking_status, fake_setup, fake_teardown),
	    cmocka_unit_test(test_netdb),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
