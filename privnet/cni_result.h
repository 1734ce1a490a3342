/*
 * CNI results (spec 0.3.x, 0.4.0, 1.0.0) and CNI error objects, parsed with
 * json-c. The bytes come from a plugin, i.e. another program: every field is
 * type-checked and bounded; anything malformed is an error, never a guess.
 */
#ifndef QEMUBOX_CNI_RESULT_H
#define QEMUBOX_CNI_RESULT_H

#include <stddef.h>
#include <stdint.h>

#include "imsg/qemubox_imsg.h"
#include "lib/error.h"

#define CNI_RESULT_MAX_BYTES (1024 * 1024)
#define CNI_MAX_IFACES       8

struct cni_iface {
	char name[QB_IFNAME_MAX];
	uint8_t mac[6];
	int has_mac;
	int in_sandbox; /* "sandbox" was set: the interface is in the netns */
};

struct cni_ip {
	struct qb_net_addr addr;
	struct qb_net_addr gw; /* family 0 = none */
	int iface;             /* index into ifaces, -1 = not given */
};

struct cni_result {
	char cni_version[16];
	unsigned n_ifaces;
	struct cni_iface ifaces[CNI_MAX_IFACES];
	unsigned n_ips;
	struct cni_ip ips[QB_NET_MAX_IPS];
	unsigned n_routes;
	struct qb_net_route routes[QB_NET_MAX_ROUTES];
	unsigned n_dns;
	struct qb_net_addr dns[QB_NET_MAX_DNS];
	char dns_domain[QB_DNS_NAME_MAX];
	unsigned n_search;
	char dns_search[QB_NET_MAX_SEARCH][QB_DNS_NAME_MAX];
};

/* Parse a success result. Returns 0, or -1 with err (QB_E_INTERNAL). */
int cni_result_parse(
    const char *buf, size_t len, struct cni_result *res, struct qb_error *err);

/*
 * A plugin's error object {"code":N,"msg":"...","details":"..."} into err
 * ("CNI error N: msg: details"). Returns -1 always (for `return`); when buf
 * is not such an object err says so and quotes nothing from it.
 */
int cni_error_parse(const char *buf, size_t len, struct qb_error *err);

/*
 * The network view of interface `ifname` (in the sandbox): its IPs and their
 * gateways, every route, DNS. MAC and MTU are left to the caller, who reads
 * them from the real link.
 */
void cni_result_to_net(const struct cni_result *res, const char *ifname,
    struct qb_net_result *out);

/* "10.88.0.2/16" or "fd00::2/64" (prefix required iff want_prefix). */
int cni_addr_parse(const char *s, int want_prefix, struct qb_net_addr *out);

#endif
