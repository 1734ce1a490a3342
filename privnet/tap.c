/*
 * The TAP next to the CNI veth inside the sandbox netns, and the tc plumbing
 * that makes them one wire: an ingress qdisc on each, a u32 match-all filter
 * with a mirred egress redirect to the other. What the guest sends into the
 * TAP leaves by the veth and vice versa, so the guest NIC (with the veth's
 * MAC) is the CNI interface as far as the bridge, IPAM and firewall know.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_ether.h>
#include <linux/if_tun.h>
#include <linux/pkt_cls.h>
#include <linux/pkt_sched.h>
#include <linux/tc_act/tc_mirred.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <netlink/netlink.h>
#include <netlink/route/act/mirred.h>
#include <netlink/route/addr.h>
#include <netlink/route/classifier.h>
#include <netlink/route/cls/u32.h>
#include <netlink/route/link.h>
#include <netlink/route/qdisc.h>
#include <netlink/route/route.h>
#include <netlink/route/tc.h>

#include "lib/log.h"
#include "lib/tap_open.h"
#include "privnet/privnet.h"

#define INGRESS_HANDLE TC_HANDLE(0xffff, 0)

static struct nl_sock *
nl_open(void)
{
	struct nl_sock *sk;

	if ((sk = nl_socket_alloc()) == NULL)
		return NULL;
	if (nl_connect(sk, NETLINK_ROUTE) < 0) {
		nl_socket_free(sk);
		return NULL;
	}
	return sk;
}

/* The ingress qdisc of ifindex, as a request object; NULL if no memory. */
static struct rtnl_qdisc *
ingress_qdisc(int ifindex)
{
	struct rtnl_qdisc *q;

	if ((q = rtnl_qdisc_alloc()) == NULL)
		return NULL;
	rtnl_tc_set_ifindex(TC_CAST(q), ifindex);
	rtnl_tc_set_parent(TC_CAST(q), TC_H_INGRESS);
	rtnl_tc_set_handle(TC_CAST(q), INGRESS_HANDLE);
	if (rtnl_tc_set_kind(TC_CAST(q), "ingress") != 0) {
		rtnl_qdisc_put(q);
		return NULL;
	}
	return q;
}

static int
ingress_add(struct nl_sock *sk, int ifindex)
{
	struct rtnl_qdisc *q;
	int rc;

	if ((q = ingress_qdisc(ifindex)) == NULL)
		return -NLE_NOMEM;
	rc = rtnl_qdisc_add(sk, q, NLM_F_CREATE | NLM_F_EXCL);
	rtnl_qdisc_put(q);
	return rc;
}

static int
ingress_del(struct nl_sock *sk, int ifindex)
{
	struct rtnl_qdisc *q;
	int rc;

	if ((q = ingress_qdisc(ifindex)) == NULL)
		return -NLE_NOMEM;
	rc = rtnl_qdisc_delete(sk, q);
	rtnl_qdisc_put(q);
	return rc;
}

/* u32 "match u32 0 0" (everything) + mirred egress redirect to `to`. */
static int
redirect_add(struct nl_sock *sk, int from, int to)
{
	struct rtnl_cls *cls;
	struct rtnl_act *act = NULL;
	int rc;

	if ((cls = rtnl_cls_alloc()) == NULL)
		return -NLE_NOMEM;
	rtnl_tc_set_ifindex(TC_CAST(cls), from);
	rtnl_tc_set_parent(TC_CAST(cls), INGRESS_HANDLE);
	rtnl_cls_set_protocol(cls, ETH_P_ALL);
	rtnl_cls_set_prio(cls, 1);
	if ((rc = rtnl_tc_set_kind(TC_CAST(cls), "u32")) < 0)
		goto out;
	if ((rc = rtnl_u32_add_key_uint32(cls, 0, 0, 0, 0)) < 0)
		goto out;
	/* Without TC_U32_TERMINAL a matching u32 key runs no action. */
	if ((rc = rtnl_u32_set_cls_terminal(cls)) < 0)
		goto out;
	if ((act = rtnl_act_alloc()) == NULL) {
		rc = -NLE_NOMEM;
		goto out;
	}
	if ((rc = rtnl_tc_set_kind(TC_CAST(act), "mirred")) < 0)
		goto out;
	rtnl_mirred_set_action(act, TCA_EGRESS_REDIR);
	rtnl_mirred_set_policy(act, TC_ACT_STOLEN);
	rtnl_mirred_set_ifindex(act, (uint32_t)to);
	if ((rc = rtnl_u32_add_action(cls, act)) < 0)
		goto out;
	rc = rtnl_cls_add(sk, cls, NLM_F_CREATE | NLM_F_EXCL);
out:
	if (act != NULL)
		rtnl_act_put(act);
	rtnl_cls_put(cls);
	return rc;
}

static int
link_set(struct nl_sock *sk, struct rtnl_link *link, unsigned mtu, int up)
{
	struct rtnl_link *chg;
	int rc;

	if ((chg = rtnl_link_alloc()) == NULL)
		return -NLE_NOMEM;
	if (mtu)
		rtnl_link_set_mtu(chg, mtu);
	if (up)
		rtnl_link_set_flags(chg, IFF_UP);
	rc = rtnl_link_change(sk, link, chg, 0);
	rtnl_link_put(chg);
	return rc;
}

/*
 * The TAP is a wire to the guest, not a host interface: no IPv6 of its own
 * (no link-local address, no router solicitations sent into the guest).
 * Best effort; /proc/sys/net is the one of the netns we are in.
 */
static void
tap_no_ipv6(const char *name)
{
	char path[128];
	int fd;

	snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/disable_ipv6",
	    name);
	if ((fd = open(path, O_WRONLY | O_CLOEXEC)) == -1)
		return;
	if (write(fd, "1", 1) != 1)
		log_debug("%s: %s: %s", __func__, path, strerror(errno));
	close(fd);
}

int
tap_create(
    const char *netns, const char *tap, int *tap_fd, struct qb_error *err)
{
	int saved = -1, fd;

	*tap_fd = -1;
	if (netns_enter(netns, &saved) == -1)
		return qb_seterr(err, QB_E_INTERNAL, "enter netns %s: %s",
		    netns, strerror(errno));
	if ((fd = tap_open(tap)) == -1) {
		qb_seterr(err, QB_E_INTERNAL, "TAP in %s: create TAP: %s",
		    netns, strerror(errno));
		netns_leave(saved);
		return -1;
	}
	tap_no_ipv6(tap);
	netns_leave(saved);
	*tap_fd = fd;
	return 0;
}

/* The veth takes the MAC its guest NIC already has. */
static int
link_set_mac(struct nl_sock *sk, struct rtnl_link *link, const uint8_t *mac)
{
	struct rtnl_link *chg;
	struct nl_addr *a;
	int rc;

	if ((chg = rtnl_link_alloc()) == NULL)
		return -NLE_NOMEM;
	if ((a = nl_addr_build(AF_LLC, mac, 6)) == NULL) {
		rtnl_link_put(chg);
		return -NLE_NOMEM;
	}
	rtnl_link_set_addr(chg, a);
	rc = rtnl_link_change(sk, link, chg, 0);
	nl_addr_put(a);
	rtnl_link_put(chg);
	return rc;
}

int
tap_setup(const char *netns, const char *veth, const char *tap,
    const uint8_t *want_mac, struct qb_net_result *out, int *tap_fd,
    struct qb_error *err)
{
	struct nl_sock *sk = NULL;
	struct rtnl_link *vlink = NULL, *tlink = NULL;
	struct nl_addr *mac;
	int saved = -1, fd = -1, vidx, tidx, rc;
	unsigned mtu;
	const char *step = "netlink";

	if (tap_fd != NULL)
		*tap_fd = -1;
	if (netns_enter(netns, &saved) == -1)
		return qb_seterr(err, QB_E_INTERNAL, "enter netns %s: %s",
		    netns, strerror(errno));
	if ((sk = nl_open()) == NULL) {
		rc = -NLE_FAILURE;
		goto fail;
	}
	step = "find veth";
	if ((rc = rtnl_link_get_kernel(sk, 0, veth, &vlink)) < 0)
		goto fail;
	if (want_mac != NULL) {
		step = "set veth MAC";
		if ((rc = link_set_mac(sk, vlink, want_mac)) < 0)
			goto fail;
		rtnl_link_put(vlink);
		vlink = NULL;
		step = "find veth";
		if ((rc = rtnl_link_get_kernel(sk, 0, veth, &vlink)) < 0)
			goto fail;
	}
	vidx = rtnl_link_get_ifindex(vlink);
	mtu = rtnl_link_get_mtu(vlink);
	mac = rtnl_link_get_addr(vlink);
	if (mac == NULL || nl_addr_get_len(mac) != 6 ||
	    (want_mac != NULL &&
	        memcmp(nl_addr_get_binary_addr(mac), want_mac, 6) != 0)) {
		rc = -NLE_INVAL;
		goto fail;
	}
	memcpy(out->mac, nl_addr_get_binary_addr(mac), 6);
	out->mtu = mtu;
	snprintf(out->veth_name, sizeof(out->veth_name), "%s", veth);
	snprintf(out->tap_name, sizeof(out->tap_name), "%s", tap);

	step = tap_fd != NULL ? "create TAP" : "find TAP";
	if (tap_fd != NULL && (fd = tap_open(tap)) == -1) {
		rc = -nl_syserr2nlerr(errno);
		goto fail;
	}
	if ((rc = rtnl_link_get_kernel(sk, 0, tap, &tlink)) < 0)
		goto fail;
	tidx = rtnl_link_get_ifindex(tlink);
	if (tap_fd != NULL)
		tap_no_ipv6(tap);
	step = "set TAP MTU";
	if ((rc = link_set(sk, tlink, mtu, 0)) < 0)
		goto fail;
	step = "ingress qdisc on veth";
	if ((rc = ingress_add(sk, vidx)) < 0)
		goto fail;
	step = "ingress qdisc on TAP";
	if ((rc = ingress_add(sk, tidx)) < 0)
		goto fail;
	step = "redirect veth->TAP";
	if ((rc = redirect_add(sk, vidx, tidx)) < 0)
		goto fail;
	step = "redirect TAP->veth";
	if ((rc = redirect_add(sk, tidx, vidx)) < 0)
		goto fail;
	step = "link up";
	if ((rc = link_set(sk, tlink, 0, 1)) < 0 ||
	    (rc = link_set(sk, vlink, 0, 1)) < 0)
		goto fail;
	rtnl_link_put(vlink);
	rtnl_link_put(tlink);
	nl_socket_free(sk);
	netns_leave(saved);
	if (tap_fd != NULL)
		*tap_fd = fd;
	return 0;
fail:
	qb_seterr(err, QB_E_INTERNAL, "TAP in %s: %s: %s", netns, step,
	    nl_geterror(rc));
	if (vlink != NULL) {
		ingress_del(sk, rtnl_link_get_ifindex(vlink));
		rtnl_link_put(vlink);
	}
	if (tlink != NULL)
		rtnl_link_put(tlink);
	if (sk != NULL)
		nl_socket_free(sk);
	/* A non-persistent TAP vanishes with its last fd. */
	if (fd != -1)
		close(fd);
	netns_leave(saved);
	errno = EIO;
	return -1;
}

int
tap_teardown(const char *netns, const char *veth, const char *tap)
{
	struct nl_sock *sk;
	struct rtnl_link *link = NULL;
	int saved, rc = 0;

	if (netns_enter(netns, &saved) == -1)
		return errno == ENOENT ? 0 : -1;
	if ((sk = nl_open()) == NULL) {
		netns_leave(saved);
		return -1;
	}
	if (rtnl_link_get_kernel(sk, 0, tap, &link) == 0) {
		if (rtnl_link_delete(sk, link) < 0)
			rc = -1;
		rtnl_link_put(link);
		link = NULL;
	}
	if (rtnl_link_get_kernel(sk, 0, veth, &link) == 0) {
		ingress_del(sk, rtnl_link_get_ifindex(link));
		rtnl_link_put(link);
	}
	nl_socket_free(sk);
	netns_leave(saved);
	return rc;
}

int
tap_present(const char *netns, const char *tap)
{
	struct nl_sock *sk;
	struct rtnl_link *link = NULL;
	int saved, rc;

	if (netns_enter(netns, &saved) == -1)
		return errno == ENOENT || errno == EINVAL ? 0 : -1;
	if ((sk = nl_open()) == NULL) {
		netns_leave(saved);
		return -1;
	}
	rc = rtnl_link_get_kernel(sk, 0, tap, &link);
	if (rc == 0) {
		rtnl_link_put(link);
		rc = 1;
	} else
		rc = rc == -NLE_OBJ_NOTFOUND || rc == -NLE_NODEV ? 0 : -1;
	nl_socket_free(sk);
	netns_leave(saved);
	return rc;
}

static void
addr_from_nl(struct nl_addr *a, struct qb_net_addr *out)
{
	memset(out, 0, sizeof(*out));
	if (a == NULL)
		return;
	if (nl_addr_get_family(a) == AF_INET && nl_addr_get_len(a) == 4)
		memcpy(out->addr, nl_addr_get_binary_addr(a), 4);
	else if (nl_addr_get_family(a) == AF_INET6 && nl_addr_get_len(a) == 16)
		memcpy(out->addr, nl_addr_get_binary_addr(a), 16);
	else
		return;
	out->family = (uint8_t)nl_addr_get_family(a);
	out->prefixlen = (uint8_t)nl_addr_get_prefixlen(a);
}

struct inspect_ctx {
	int ifindex;
	struct qb_net_result *out;
	int first; /* first candidate link, when there is no eth0 */
};

static void
pick_link(struct nl_object *obj, void *arg)
{
	struct rtnl_link *l = (struct rtnl_link *)obj;
	struct inspect_ctx *c = arg;
	const char *type = rtnl_link_get_type(l);

	if (c->first != 0 || (rtnl_link_get_flags(l) & IFF_LOOPBACK))
		return;
	if (type != NULL && strcmp(type, "tun") == 0)
		return;
	c->first = rtnl_link_get_ifindex(l);
}

static void
take_addr(struct nl_object *obj, void *arg)
{
	struct rtnl_addr *a = (struct rtnl_addr *)obj;
	struct inspect_ctx *c = arg;
	struct qb_net_addr qa;

	if (rtnl_addr_get_ifindex(a) != c->ifindex ||
	    c->out->n_ips >= QB_NET_MAX_IPS)
		return;
	addr_from_nl(rtnl_addr_get_local(a), &qa);
	if (qa.family == 0)
		return;
	/* Link-local v6 is the kernel's, not the network's. */
	if (qa.family == AF_INET6 && qa.addr[0] == 0xfe &&
	    (qa.addr[1] & 0xc0) == 0x80)
		return;
	qa.prefixlen = (uint8_t)rtnl_addr_get_prefixlen(a);
	c->out->ips[c->out->n_ips++] = qa;
}

static void
take_route(struct nl_object *obj, void *arg)
{
	struct rtnl_route *r = (struct rtnl_route *)obj;
	struct inspect_ctx *c = arg;
	struct rtnl_nexthop *nh;
	struct qb_net_route qr;
	unsigned i;

	if (rtnl_route_get_table(r) != RT_TABLE_MAIN ||
	    rtnl_route_get_type(r) != RTN_UNICAST ||
	    rtnl_route_get_nnexthops(r) != 1 ||
	    c->out->n_routes >= QB_NET_MAX_ROUTES)
		return;
	nh = rtnl_route_nexthop_n(r, 0);
	if (rtnl_route_nh_get_ifindex(nh) != c->ifindex)
		return;
	memset(&qr, 0, sizeof(qr));
	addr_from_nl(rtnl_route_get_dst(r), &qr.dst);
	if (qr.dst.family == 0) {
		/* The default route: dst is "none". */
		qr.dst.family = (uint8_t)rtnl_route_get_family(r);
		qr.dst.prefixlen = 0;
		if (qr.dst.family != AF_INET && qr.dst.family != AF_INET6)
			return;
	}
	addr_from_nl(rtnl_route_nh_get_gateway(nh), &qr.gw);
	if (qr.gw.family == 0) {
		/* On-link subnet routes come with the address itself. */
		return;
	}
	qr.gw.prefixlen = qr.gw.family == AF_INET ? 32 : 128;
	c->out->routes[c->out->n_routes++] = qr;
	/* A default route's gateway is the gateway of the IPs of its family. */
	if (qr.dst.prefixlen == 0)
		for (i = 0; i < c->out->n_ips; i++)
			if (c->out->ips[i].family == qr.gw.family &&
			    c->out->gateways[i].family == 0)
				c->out->gateways[i] = qr.gw;
}

int
net_inspect(const char *netns, char *veth, size_t vethlen,
    struct qb_net_result *out, struct qb_error *err)
{
	struct nl_sock *sk = NULL;
	struct nl_cache *links = NULL, *addrs = NULL, *routes = NULL;
	struct rtnl_link *l;
	struct inspect_ctx c = {0, out, 0};
	int saved = -1, rc;
	const char *step = "netlink";

	if (netns_enter(netns, &saved) == -1)
		return qb_seterr(err, QB_E_INVALID,
		    "netns %s: not a network namespace: %s", netns,
		    strerror(errno));
	if ((sk = nl_open()) == NULL) {
		rc = -NLE_FAILURE;
		goto fail;
	}
	step = "links";
	if ((rc = rtnl_link_alloc_cache(sk, AF_UNSPEC, &links)) < 0)
		goto fail;
	if ((l = rtnl_link_get_by_name(
	         links, veth[0] ? veth : PRIVNET_IFNAME)) != NULL) {
		c.ifindex = rtnl_link_get_ifindex(l);
		rtnl_link_put(l);
	} else if (veth[0] == '\0') {
		nl_cache_foreach(links, pick_link, &c);
		c.ifindex = c.first;
	}
	if (c.ifindex == 0) {
		rc = -NLE_OBJ_NOTFOUND;
		step = "no veth";
		goto fail;
	}
	rtnl_link_i2name(links, c.ifindex, veth, vethlen);
	step = "addresses";
	if ((rc = rtnl_addr_alloc_cache(sk, &addrs)) < 0)
		goto fail;
	nl_cache_foreach(addrs, take_addr, &c);
	step = "routes";
	if ((rc = rtnl_route_alloc_cache(sk, AF_UNSPEC, 0, &routes)) < 0)
		goto fail;
	nl_cache_foreach(routes, take_route, &c);
	if (out->n_ips == 0) {
		rc = -NLE_OBJ_NOTFOUND;
		step = "the veth has no address (is the netns wired?)";
		goto fail;
	}
	rc = 0;
	goto out;
fail:
	qb_seterr(err, QB_E_PRECONDITION, "netns %s: %s: %s", netns, step,
	    nl_geterror(rc));
out:
	if (routes)
		nl_cache_free(routes);
	if (addrs)
		nl_cache_free(addrs);
	if (links)
		nl_cache_free(links);
	if (sk)
		nl_socket_free(sk);
	netns_leave(saved);
	return rc == 0 ? 0 : -1;
}
