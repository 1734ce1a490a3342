/*
 * The liveness rule privnet and qemubox-cleanup share (net_claim_decide),
 * and the facts it is fed: a process's start time from /proc/<pid>/stat and
 * the owner fields of a netdb record.
 */
#include <sys/prctl.h>
#include <sys/wait.h>

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

#include "privnet/privnet.h"

static struct net_facts
record_of(int64_t pid, uint64_t start, uint64_t now)
{
	struct net_facts f;

	memset(&f, 0, sizeof(f));
	f.has_record = 1;
	f.owner_pid = pid;
	f.owner_start = start;
	f.owner_start_now = now;
	f.netns_exists = 1;
	f.netns_users = -1;
	return f;
}

static struct net_facts
no_record(int netns, int tap, int users)
{
	struct net_facts f;

	memset(&f, 0, sizeof(f));
	f.netns_exists = netns;
	f.tap_present = tap;
	f.netns_users = users;
	return f;
}

static void
test_nothing_there_is_free(void **state)
{
	struct net_facts f = no_record(0, 0, -1);
	char why[128];

	(void)state;
	assert_int_equal(
	    net_claim_decide(&f, why, sizeof(why)), NET_CLAIM_FREE);
}

static void
test_recorded_owner_decides(void **state)
{
	struct net_facts f;
	char why[128];

	(void)state;
	/* Same pid, same start time: the shim runs. */
	f = record_of(4242, 987654, 987654);
	assert_int_equal(
	    net_claim_decide(&f, why, sizeof(why)), NET_CLAIM_LIVE);
	assert_non_null(strstr(why, "4242"));
	assert_non_null(strstr(why, "running"));
	/* No such process. */
	f = record_of(4242, 987654, 0);
	assert_int_equal(
	    net_claim_decide(&f, why, sizeof(why)), NET_CLAIM_STALE);
	assert_non_null(strstr(why, "gone"));
	/* The pid was reused by a process started later: not the owner. */
	f = record_of(4242, 987654, 1000000);
	assert_int_equal(
	    net_claim_decide(&f, why, sizeof(why)), NET_CLAIM_STALE);
	assert_non_null(strstr(why, "another process"));
	/* A live owner wins over a missing TAP; a dead one over a present
	 * TAP (a QEMU orphaned by its shim is not a sandbox any more). */
	f = record_of(4242, 987654, 987654);
	f.tap_present = 0;
	f.netns_users = 0;
	assert_int_equal(net_claim_decide(&f, NULL, 0), NET_CLAIM_LIVE);
	f = record_of(4242, 987654, 0);
	f.tap_present = 1;
	f.netns_users = 3;
	assert_int_equal(net_claim_decide(&f, NULL, 0), NET_CLAIM_STALE);
}

static void
test_privnet_still_at_work(void **state)
{
	struct net_facts f;
	char why[128];

	(void)state;
	/* The shim died during NET_SETUP; its privnet still runs the
	 * plugins and will undo the setup itself: not to be reclaimed under
	 * its feet. */
	f = record_of(4242, 987654, 0);
	f.worker_alive = 1;
	assert_int_equal(
	    net_claim_decide(&f, why, sizeof(why)), NET_CLAIM_LIVE);
	assert_non_null(strstr(why, "privnet is still at work"));
	/* A live owner is live whatever its privnet does. */
	f = record_of(4242, 987654, 987654);
	assert_int_equal(net_claim_decide(&f, NULL, 0), NET_CLAIM_LIVE);
	/* From before a reboot nothing runs, whatever the pids say. */
	f = record_of(4242, 987654, 987654);
	f.worker_alive = 1;
	f.owner_boot_differs = 1;
	assert_int_equal(net_claim_decide(&f, NULL, 0), NET_CLAIM_STALE);
}

static void
test_unknown_owner_falls_back_to_the_netns(void **state)
{
	struct net_facts f;
	char why[128];

	(void)state;
	/* pid without start time: a pid alone is not trusted. */
	f = record_of(1, 0, 0);
	f.tap_present = 0;
	f.netns_users = 0;
	assert_int_equal(
	    net_claim_decide(&f, why, sizeof(why)), NET_CLAIM_STALE);
	assert_non_null(strstr(why, "no owner recorded"));
	f.tap_present = 1;
	assert_int_equal(
	    net_claim_decide(&f, why, sizeof(why)), NET_CLAIM_LIVE);
	assert_non_null(strstr(why, "TAP"));
	/* A record whose netns is already gone: stale, teardown finishes. */
	f = record_of(0, 0, 0);
	f.netns_exists = 0;
	assert_int_equal(net_claim_decide(&f, NULL, 0), NET_CLAIM_STALE);
}

static void
test_boot_and_pid_namespace(void **state)
{
	struct net_facts f;
	char why[128];

	(void)state;
	/* Same pid and start tick, but recorded in another boot. */
	f = record_of(4242, 987654, 987654);
	f.owner_boot_differs = 1;
	assert_int_equal(
	    net_claim_decide(&f, why, sizeof(why)), NET_CLAIM_STALE);
	assert_non_null(strstr(why, "rebooted"));
	/* Another pid namespace: the pid says nothing, the netns decides. */
	f = record_of(4242, 987654, 0);
	f.owner_pidns_differs = 1;
	f.tap_present = 1;
	assert_int_equal(
	    net_claim_decide(&f, why, sizeof(why)), NET_CLAIM_LIVE);
	assert_non_null(strstr(why, "another pid namespace"));
	assert_non_null(strstr(why, "TAP"));
	f.tap_present = 0;
	f.netns_users = 0;
	assert_int_equal(
	    net_claim_decide(&f, why, sizeof(why)), NET_CLAIM_STALE);
	f = record_of(4242, 987654, 987654);
	f.owner_pidns_differs = 1;
	f.tap_present = 0;
	f.netns_users = 0;
	assert_int_equal(net_claim_decide(&f, NULL, 0), NET_CLAIM_STALE);
}

static void
test_no_record(void **state)
{
	struct net_facts f;
	char why[128];

	(void)state;
	f = no_record(1, 0, 0);
	assert_int_equal(
	    net_claim_decide(&f, why, sizeof(why)), NET_CLAIM_STALE);
	assert_non_null(strstr(why, "no record"));
	/* privnet does not scan /proc (-1): the TAP alone decides. */
	f = no_record(1, 0, -1);
	assert_int_equal(net_claim_decide(&f, NULL, 0), NET_CLAIM_STALE);
	f = no_record(1, 1, -1);
	assert_int_equal(
	    net_claim_decide(&f, why, sizeof(why)), NET_CLAIM_LIVE);
	assert_non_null(strstr(why, "VM holds its TAP"));
	f = no_record(1, 0, 2);
	assert_int_equal(
	    net_claim_decide(&f, why, sizeof(why)), NET_CLAIM_LIVE);
	assert_non_null(strstr(why, "2 processes use the netns"));
	f = no_record(1, 0, 1);
	assert_int_equal(
	    net_claim_decide(&f, why, sizeof(why)), NET_CLAIM_LIVE);
	assert_non_null(strstr(why, "1 process uses the netns"));
	/* Could not look inside: do not destroy what may be in use. */
	f = no_record(1, -1, 0);
	assert_int_equal(
	    net_claim_decide(&f, why, sizeof(why)), NET_CLAIM_LIVE);
	assert_non_null(strstr(why, "could not be inspected"));
	/* A tiny buffer truncates, never overflows. */
	f = no_record(1, 0, 0);
	assert_int_equal(net_claim_decide(&f, why, 4), NET_CLAIM_STALE);
	assert_int_equal(strlen(why), 3);
}

static void
test_start_time_of_real_processes(void **state)
{
	struct net_facts f;
	uint64_t me, child_start;
	pid_t pid;
	int st;

	(void)state;
	me = owner_proc_start(getpid());
	assert_true(me != 0);
	/* comm is free text: a name with spaces and parens must not shift
	 * the fields. */
	assert_int_equal(prctl(PR_SET_NAME, "a) b ) c", 0, 0, 0), 0);
	assert_true(owner_proc_start(getpid()) == me);
	assert_true(owner_proc_start(0) == 0);
	assert_true(owner_proc_start(-5) == 0);
	/* This boot and pid namespace, as records are stamped. */
	assert_int_equal(strlen(owner_boot_id()), 36);
	assert_true(owner_pidns() != 0);

	/* A real owner: live while it runs, stale once it is reaped. */
	if ((pid = fork()) == 0) {
		pause();
		_exit(0);
	}
	assert_true(pid > 0);
	child_start = owner_proc_start(pid);
	assert_true(child_start != 0);
	f = record_of(pid, child_start, owner_proc_start(pid));
	assert_int_equal(net_claim_decide(&f, NULL, 0), NET_CLAIM_LIVE);
	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	f = record_of(pid, child_start, owner_proc_start(pid));
	assert_int_equal(net_claim_decide(&f, NULL, 0), NET_CLAIM_STALE);
	/* Our own pid with the child's start time: a reused pid. */
	f = record_of(getpid(), child_start, owner_proc_start(getpid()));
	if (child_start != me)
		assert_int_equal(
		    net_claim_decide(&f, NULL, 0), NET_CLAIM_STALE);
}

static void
test_record_keeps_the_owner(void **state)
{
	struct netdb_rec in, out;
	char *s;
	size_t len;

	(void)state;
	memset(&in, 0, sizeof(in));
	snprintf(in.id, sizeof(in.id), "ctr-1");
	snprintf(in.netns, sizeof(in.netns), "/run/netns/qemubox-ctr-1");
	snprintf(in.veth, sizeof(in.veth), "eth0");
	in.own_netns = 1;
	in.owner_pid = 123456;
	in.owner_start = UINT64_C(18446744073709551000);
	snprintf(in.owner_boot, sizeof(in.owner_boot), "%s",
	    "0f5ab9c1-7a4e-4c55-9d0c-2b8e8f1d3a77");
	in.owner_pidns = UINT64_C(4026531836);
	in.worker_pid = 654321;
	in.worker_start = 42;
	s = netdb_rec_encode(&in, &len);
	assert_non_null(s);
	assert_int_equal(netdb_rec_decode(s, len, &out), 0);
	assert_int_equal(out.owner_pid, 123456);
	assert_true(out.owner_start == in.owner_start);
	assert_string_equal(out.owner_boot, in.owner_boot);
	assert_true(out.owner_pidns == in.owner_pidns);
	assert_int_equal(out.worker_pid, 654321);
	assert_true(out.worker_start == 42);
	netdb_rec_free(&out);
	free(s);
	/* A record from before these fields: decoded, owner facts unknown. */
	s = strdup("{\"id\":\"old\",\"state\":2,\"own_netns\":true,"
	           "\"netns\":\"/run/netns/qemubox-old\",\"network\":\"n\","
	           "\"veth\":\"eth0\",\"owner_pid\":7}");
	assert_int_equal(netdb_rec_decode(s, strlen(s), &out), 0);
	assert_int_equal(out.owner_pid, 7);
	assert_true(out.owner_start == 0 && out.owner_pidns == 0);
	assert_string_equal(out.owner_boot, "");
	netdb_rec_free(&out);
	free(s);
	/* An oversized boot id is a corrupt record. */
	s = strdup(
	    "{\"id\":\"old\",\"state\":2,\"own_netns\":true,"
	    "\"netns\":\"x\",\"network\":\"n\",\"veth\":\"eth0\","
	    "\"owner_boot\":\"0123456789012345678901234567890123456789\"}");
	assert_int_equal(netdb_rec_decode(s, strlen(s), &out), -1);
	free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_nothing_there_is_free),
	    cmocka_unit_test(test_recorded_owner_decides),
	    cmocka_unit_test(test_unknown_owner_falls_back_to_the_netns),
	    cmocka_unit_test(test_boot_and_pid_namespace),
	    cmocka_unit_test(test_privnet_still_at_work),
	    cmocka_unit_test(test_no_record),
	    cmocka_unit_test(test_start_time_of_real_processes),
	    cmocka_unit_test(test_record_keeps_the_owner),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
