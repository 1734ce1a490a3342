/*
 * The one list of every imsg exchanged between the shim and its helpers
 * (qemubox-privnet, qemubox-vmmon), with the payload struct of each.
 *
 * Families: *_REQ flows shim -> helper, *_RES answers a request (or
 * IMSG_ERROR), *_EVT is unsolicited helper -> shim. Payloads are fixed-size
 * structs copied in host byte order (both ends are the same host); strings
 * are fixed char arrays that the receiver NUL-terminates and validates.
 * A helper that receives a type not listed for it, or a payload of the wrong
 * size (imsg_get_data demands exact size), kills the connection.
 *
 * Ownership: the privnet section belongs to privnet/, the vmmon section to
 * vmmon/; add new types at the end of a family, never renumber.
 */
#ifndef QEMUBOX_IMSG_H
#define QEMUBOX_IMSG_H

#include <stdint.h>

#define QB_ID_MAX 64 /* containerd ids: [A-Za-z0-9][A-Za-z0-9_.-]{0,75}; we cap lower */
#define QB_ERRMSG_MAX 1024

enum qb_imsg_type {
	IMSG_NONE = 0,

	/* Any helper -> shim: the request named in `type` failed. */
	IMSG_ERROR = 1,

	/* shim <-> privnet: 100..199 */
	IMSG_NET_FIRST = 100,
	IMSG_NET_SETUP_REQ = 101,    /* qb_net_setup_req */
	IMSG_NET_SETUP_RES = 102,    /* qb_net_result + the TAP fd */
	IMSG_NET_TEARDOWN_REQ = 103, /* qb_net_id_req */
	IMSG_NET_TEARDOWN_RES = 104, /* qb_net_id_req (echo) */
	IMSG_NET_STATUS_REQ = 105,   /* qb_net_id_req */
	IMSG_NET_STATUS_RES = 106,   /* qb_net_status */

	/* shim <-> vmmon: 200..299 */
	IMSG_VMM_FIRST = 200,
};

/* IMSG_ERROR payload. */
struct qb_imsg_error {
	uint32_t req_type; /* the request type that failed */
	int32_t errnum;	   /* errno-style cause, 0 if none */
	int32_t code;	   /* gRPC code (lib/error.h) */
	char msg[QB_ERRMSG_MAX];
};

/*
 * privnet section (owner: privnet/). Requests carry the sandbox id; privnet
 * answers each request in order, with the request's peerid, by its _RES type
 * or by IMSG_ERROR. Addresses are binary (network order) with a family
 * (AF_INET / AF_INET6) so nobody re-parses text.
 */
#define QB_NETNS_PATH_MAX 256
#define QB_IFNAME_MAX 16 /* IFNAMSIZ, NUL included */
#define QB_NET_MAX_IPS 4
#define QB_NET_MAX_ROUTES 16
#define QB_NET_MAX_DNS 4
#define QB_NET_MAX_SEARCH 4
#define QB_DNS_NAME_MAX 254

/* IMSG_NET_SETUP_REQ. netns_path "" = own netns (privnet creates
 * /run/netns/qemubox-<id> and runs CNI); otherwise CRI mode: an existing,
 * already wired netns (no CNI run). ifname "" = "eth0": the CNI_IFNAME
 * (own netns) or the veth to attach to (CRI; "" = find it). */
struct qb_net_setup_req {
	char sandbox_id[QB_ID_MAX];
	char netns_path[QB_NETNS_PATH_MAX];
	char ifname[QB_IFNAME_MAX];
};

/* IMSG_NET_TEARDOWN_REQ, IMSG_NET_TEARDOWN_RES, IMSG_NET_STATUS_REQ. */
struct qb_net_id_req {
	char sandbox_id[QB_ID_MAX];
};

struct qb_net_addr {
	uint8_t family; /* 0 = unset, AF_INET, AF_INET6 */
	uint8_t prefixlen;
	uint8_t pad[2];
	uint8_t addr[16];
};

struct qb_net_route {
	struct qb_net_addr dst; /* dst.prefixlen 0 = default route */
	struct qb_net_addr gw;	/* family 0 = on-link */
};

/* IMSG_NET_SETUP_RES payload (the TAP fd rides with it). What the guest
 * NIC needs: the veth's MAC (the guest uses it), MTU, addresses, gateway,
 * routes, DNS. */
struct qb_net_result {
	char tap_name[QB_IFNAME_MAX];  /* TAP in the sandbox netns */
	char veth_name[QB_IFNAME_MAX]; /* "eth0" */
	char netns_path[QB_NETNS_PATH_MAX];
	uint8_t mac[6];
	uint8_t pad[2];
	uint32_t mtu;
	uint32_t n_ips;
	struct qb_net_addr ips[QB_NET_MAX_IPS];
	struct qb_net_addr gateways[QB_NET_MAX_IPS]; /* per ips[i]; family 0 = none */
	uint32_t n_routes;
	struct qb_net_route routes[QB_NET_MAX_ROUTES];
	uint32_t n_dns;
	struct qb_net_addr dns[QB_NET_MAX_DNS];
	char dns_domain[QB_DNS_NAME_MAX];
	uint32_t n_search;
	char dns_search[QB_NET_MAX_SEARCH][QB_DNS_NAME_MAX];
};

/* IMSG_NET_STATUS_RES. */
struct qb_net_status {
	char sandbox_id[QB_ID_MAX];
	uint32_t state; /* QB_NET_STATE_* */
	char netns_path[QB_NETNS_PATH_MAX];
	char network[QB_DNS_NAME_MAX]; /* CNI network name, "" in CRI mode */
};
#define QB_NET_STATE_NONE 0   /* no record */
#define QB_NET_STATE_ADDING 1 /* setup started, not finished (crash?) */
#define QB_NET_STATE_READY 2

#endif
