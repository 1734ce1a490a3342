/* CNI result parser: 0.4.0 and 1.0.0 results, error objects, hostile JSON. */
#include <arpa/inet.h>
#include <sys/socket.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "privnet/cni_result.h"

static const char res_040[] =
    "{\"cniVersion\":\"0.4.0\","
    "\"interfaces\":[{\"name\":\"qb0\",\"mac\":\"a2:11:22:33:44:55\"},"
    "{\"name\":\"veth1234\",\"mac\":\"b2:11:22:33:44:66\"},"
    "{\"name\":\"eth0\",\"mac\":\"0a:58:0a:58:00:05\",\"sandbox\":"
    "\"/run/netns/qemubox-a\"}],"
    "\"ips\":[{\"version\":\"4\",\"interface\":2,\"address\":\"10.88.0.5/"
    "16\",\"gateway\":\"10.88.0.1\"}],"
    "\"routes\":[{\"dst\":\"0.0.0.0/0\"}],"
    "\"dns\":{\"nameservers\":[\"10.88.0.1\"],\"domain\":\"example.org\","
    "\"search\":[\"a.example.org\",\"b.example.org\"]}}";

static const char res_100[] =
    "{\"cniVersion\":\"1.0.0\","
    "\"interfaces\":[{\"name\":\"eth0\",\"mac\":\"0a:58:0a:58:00:06\","
    "\"sandbox\":\"/run/netns/x\"}],"
    "\"ips\":[{\"interface\":0,\"address\":\"10.88.0.6/16\",\"gateway\":"
    "\"10.88.0.1\"},{\"interface\":0,\"address\":\"fd00::6/64\","
    "\"gateway\":\"fd00::1\"}],"
    "\"routes\":[{\"dst\":\"0.0.0.0/0\",\"gw\":\"10.88.0.1\"},{\"dst\":\"::/"
    "0\"}],\"dns\":{}}";

static void
test_parse_040(void **state)
{
	struct cni_result r;
	struct qb_error err = {0};
	struct qb_net_result net;
	uint8_t want_mac[6] = {0x0a, 0x58, 0x0a, 0x58, 0x00, 0x05};
	char buf[64];

	(void)state;
	assert_int_equal(
	    cni_result_parse(res_040, strlen(res_040), &r, &err), 0);
	assert_string_equal(r.cni_version, "0.4.0");
	assert_int_equal(r.n_ifaces, 3);
	assert_true(r.ifaces[2].in_sandbox);
	assert_false(r.ifaces[0].in_sandbox);
	assert_int_equal(r.n_ips, 1);
	assert_int_equal(r.ips[0].iface, 2);
	assert_int_equal(r.ips[0].addr.family, AF_INET);
	assert_int_equal(r.ips[0].addr.prefixlen, 16);
	inet_ntop(AF_INET, r.ips[0].gw.addr, buf, sizeof(buf));
	assert_string_equal(buf, "10.88.0.1");
	assert_int_equal(r.n_routes, 1);
	assert_int_equal(r.routes[0].dst.prefixlen, 0);
	assert_int_equal(r.routes[0].gw.family, 0);
	assert_int_equal(r.n_dns, 1);
	assert_string_equal(r.dns_domain, "example.org");
	assert_int_equal(r.n_search, 2);
	assert_string_equal(r.dns_search[1], "b.example.org");

	memset(&net, 0, sizeof(net));
	cni_result_to_net(&r, "eth0", &net);
	assert_int_equal(net.n_ips, 1);
	assert_memory_equal(net.mac, want_mac, 6);
	inet_ntop(AF_INET, net.ips[0].addr, buf, sizeof(buf));
	assert_string_equal(buf, "10.88.0.5");
	assert_int_equal(net.gateways[0].family, AF_INET);
}

static void
test_parse_100(void **state)
{
	struct cni_result r;
	struct qb_error err = {0};
	struct qb_net_result net;
	char buf[64];

	(void)state;
	assert_int_equal(
	    cni_result_parse(res_100, strlen(res_100), &r, &err), 0);
	assert_string_equal(r.cni_version, "1.0.0");
	assert_int_equal(r.n_ips, 2);
	assert_int_equal(r.ips[1].addr.family, AF_INET6);
	assert_int_equal(r.ips[1].addr.prefixlen, 64);
	assert_int_equal(r.n_routes, 2);
	inet_ntop(AF_INET, r.routes[0].gw.addr, buf, sizeof(buf));
	assert_string_equal(buf, "10.88.0.1");
	assert_int_equal(r.routes[1].dst.family, AF_INET6);
	memset(&net, 0, sizeof(net));
	cni_result_to_net(&r, "eth0", &net);
	assert_int_equal(net.n_ips, 2);
	/* IPs of another interface are not ours. */
	memset(&net, 0, sizeof(net));
	cni_result_to_net(&r, "eth1", &net);
	assert_int_equal(net.n_ips, 0);
}

static void
expect_reject(const char *json, const char *needle)
{
	struct cni_result r;
	struct qb_error err = {0};

	assert_int_equal(cni_result_parse(json, strlen(json), &r, &err), -1);
	if (strstr(err.msg, needle) == NULL)
		fail_msg(
		    "error \"%s\" lacks \"%s\" for %s", err.msg, needle, json);
	assert_int_equal(r.n_ips, 0);
}

static void
test_reject(void **state)
{
	(void)state;
	expect_reject("", "bytes");
	expect_reject("[]", "not a JSON object");
	expect_reject("{\"cniVersion\":\"1.0.0\"", "truncated");
	expect_reject("{\"cniVersion\":\"1.0.0\"} x", "trailing");
	expect_reject("{}", "cniVersion");
	expect_reject("{\"cniVersion\":\"0.2.0\"}", "cniVersion");
	expect_reject("{\"cniVersion\":7}", "cniVersion");
	expect_reject("{\"cniVersion\":\"1.0.0\",\"ips\":{}}", "ips");
	expect_reject("{\"cniVersion\":\"1.0.0\",\"ips\":[{\"address\":"
	              "\"10.0.0.1\"}]}",
	    "address/prefix");
	expect_reject("{\"cniVersion\":\"1.0.0\",\"ips\":[{\"address\":"
	              "\"10.0.0.1/33\"}]}",
	    "address/prefix");
	expect_reject("{\"cniVersion\":\"1.0.0\",\"ips\":[{\"address\":"
	              "\"10.0.0.1/-1\"}]}",
	    "address/prefix");
	expect_reject("{\"cniVersion\":\"1.0.0\",\"ips\":[{\"address\":"
	              "\"300.0.0.1/8\"}]}",
	    "address/prefix");
	expect_reject("{\"cniVersion\":\"1.0.0\",\"ips\":[{\"address\":"
	              "\"10.0.0.1/8\",\"gateway\":\"fd00::1\"}]}",
	    "gateway");
	expect_reject("{\"cniVersion\":\"1.0.0\",\"ips\":[{\"address\":"
	              "\"10.0.0.1/8\",\"interface\":0}]}",
	    "interface");
	expect_reject("{\"cniVersion\":\"0.4.0\",\"ips\":[{\"version\":\"6\","
	              "\"address\":\"10.0.0.1/8\"}]}",
	    "version");
	expect_reject("{\"cniVersion\":\"1.0.0\",\"interfaces\":[{\"name\":"
	              "\"0123456789abcdef\"}]}",
	    "name");
	expect_reject("{\"cniVersion\":\"1.0.0\",\"interfaces\":[{\"name\":"
	              "\"e\",\"mac\":\"zz:11:22:33:44:55\"}]}",
	    "mac");
	expect_reject("{\"cniVersion\":\"1.0.0\",\"routes\":[{\"gw\":"
	              "\"10.0.0.1\"}]}",
	    "dst");
	expect_reject("{\"cniVersion\":\"1.0.0\",\"dns\":{\"nameservers\":["
	              "\"x\"]}}",
	    "nameservers");
	expect_reject(
	    "{\"cniVersion\":\"1.0.0\",\"dns\":{\"domain\":\"a\\nb\"}}",
	    "domain");
	expect_reject("{\"cniVersion\":\"1.0.0\",\"code\":7,\"msg\":\"x\"}",
	    "error object");
	/* Embedded NUL in a string must not truncate silently. */
	expect_reject("{\"cniVersion\":\"1.0.0\",\"interfaces\":[{\"name\":"
	              "\"eth0\\u0000x\"}]}",
	    "name");
}

static void
test_hostile_sizes(void **state)
{
	struct cni_result r;
	struct qb_error err = {0};
	char *deep, *many;
	size_t i, n = 100;

	(void)state;
	/* Nesting beyond the tokener depth. */
	deep = calloc(1, 2 * n + 64);
	strcpy(deep, "{\"cniVersion\":\"1.0.0\",\"x\":");
	for (i = 0; i < n; i++)
		strcat(deep, "[");
	for (i = 0; i < n; i++)
		strcat(deep, "]");
	strcat(deep, "}");
	assert_int_equal(cni_result_parse(deep, strlen(deep), &r, &err), -1);
	free(deep);

	/* More IPs than the guest can take is an error, not a truncation. */
	many = calloc(1, 4096);
	strcpy(many, "{\"cniVersion\":\"1.0.0\",\"ips\":[");
	for (i = 0; i < QB_NET_MAX_IPS + 1; i++)
		strcat(many, i ? ",{\"address\":\"10.0.0.1/8\"}"
		               : "{\"address\":\"10.0.0.1/8\"}");
	strcat(many, "]}");
	assert_int_equal(cni_result_parse(many, strlen(many), &r, &err), -1);
	assert_non_null(strstr(err.msg, "max"));
	free(many);

	/* Over the byte cap. */
	assert_int_equal(
	    cni_result_parse("{}", CNI_RESULT_MAX_BYTES + 1, &r, &err), -1);
}

static void
test_error_object(void **state)
{
	struct qb_error err = {0};
	const char *e = "{\"cniVersion\":\"1.0.0\",\"code\":11,\"msg\":"
	                "\"failed to allocate\",\"details\":\"no \\u001b[31m "
	                "IPs left\"}";

	(void)state;
	assert_int_equal(cni_error_parse(e, strlen(e), &err), -1);
	assert_string_equal(
	    err.msg, "CNI error 11: failed to allocate: no ?[31m IPs left");
	assert_int_equal(cni_error_parse("oops", 4, &err), -1);
	assert_non_null(strstr(err.msg, "invalid JSON"));
	assert_int_equal(cni_error_parse("{\"msg\":\"x\"}", 11, &err), -1);
	assert_non_null(strstr(err.msg, "no integer"));
}

static void
test_addr_parse(void **state)
{
	struct qb_net_addr a;

	(void)state;
	assert_int_equal(cni_addr_parse("fd00::1/128", 1, &a), 0);
	assert_int_equal(a.prefixlen, 128);
	assert_int_equal(cni_addr_parse("fd00::1/129", 1, &a), -1);
	assert_int_equal(cni_addr_parse("10.0.0.1/8x", 1, &a), -1);
	assert_int_equal(cni_addr_parse("10.0.0.1/", 1, &a), -1);
	assert_int_equal(cni_addr_parse("/8", 1, &a), -1);
	assert_int_equal(cni_addr_parse("10.0.0.1/8", 0, &a), -1);
	assert_int_equal(cni_addr_parse("10.0.0.1", 0, &a), 0);
	assert_int_equal(a.prefixlen, 32);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_040),
	    cmocka_unit_test(test_parse_100),
	    cmocka_unit_test(test_reject),
	    cmocka_unit_test(test_hostile_sizes),
	    cmocka_unit_test(test_error_object),
	    cmocka_unit_test(test_addr_parse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
