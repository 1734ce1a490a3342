#include "guest/net_config.h"

#include <sys/ioctl.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "lib/evloop.h"
#include "lib/log.h"

/* The link ConfigureNetwork brought up ("": none). */
static char net_ifname[IFNAMSIZ + 1];

struct nlreq {
	struct nlmsghdr nh;
	union {
		struct ifinfomsg ifi;
		struct ifaddrmsg ifa;
		struct rtmsg rt;
	} u;
	char attrs[256];
};

int
net_parse_cidr(
    const char *s, int *family, unsigned char addr[16], unsigned *prefix)
{
	char buf[INET6_ADDRSTRLEN + 8], *slash, *end;
	unsigned long p;

	if (strlen(s) >= sizeof(buf))
		return -1;
	strcpy(buf, s);
	memset(addr, 0, 16);
	if ((slash = strchr(buf, '/')) != NULL)
		*slash++ = '\0';
	if (inet_pton(AF_INET, buf, addr) == 1)
		*family = AF_INET;
	else if (inet_pton(AF_INET6, buf, addr) == 1)
		*family = AF_INET6;
	else
		return -1;
	if (slash == NULL) {
		*prefix = *family == AF_INET ? 32 : 128;
		return 0;
	}
	errno = 0;
	p = strtoul(slash, &end, 10);
	if (errno != 0 || *end != '\0' || end == slash ||
	    p > (*family == AF_INET ? 32u : 128u))
		return -1;
	*prefix = (unsigned)p;
	return 0;
}

static int
addattr(struct nlreq *r, unsigned short type, const void *data, size_t len)
{
	struct rtattr *rta;
	size_t off = NLMSG_ALIGN(r->nh.nlmsg_len);

	if (off + RTA_SPACE(len) > sizeof(*r))
		return -1;
	rta = (struct rtattr *)(void *)((char *)r + off);
	rta->rta_type = type;
	rta->rta_len = (unsigned short)RTA_LENGTH(len);
	memcpy(RTA_DATA(rta), data, len);
	r->nh.nlmsg_len = (unsigned)(off + RTA_SPACE(len));
	return 0;
}

/* Send one request and wait for its ack; -1 with errno from the kernel. */
static int
nl_talk(int fd, struct nlreq *r)
{
	char buf[4096];
	struct nlmsghdr *h;
	struct nlmsgerr *e;
	ssize_t n;

	r->nh.nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
	if (send(fd, r, r->nh.nlmsg_len, 0) == -1)
		return -1;
	for (;;) {
		if ((n = recv(fd, buf, sizeof(buf), 0)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		for (h = (struct nlmsghdr *)(void *)buf; NLMSG_OK(h, (size_t)n);
		     h = NLMSG_NEXT(h, n)) {
			if (h->nlmsg_type != NLMSG_ERROR)
				continue;
			e = NLMSG_DATA(h);
			if (e->error == 0)
				return 0;
			errno = -e->error;
			return -1;
		}
	}
}

static int
sysfs_ifindex(const char *name)
{
	char path[300];
	FILE *f;
	int idx = -1;

	snprintf(path, sizeof(path), "/sys/class/net/%s/ifindex", name);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	if (fscanf(f, "%d", &idx) != 1)
		idx = -1;
	fclose(f);
	return idx;
}

/* The interface whose MAC is `mac` ("aa:bb:..."), by /sys/class/net. */
static int
ifindex_by_mac(const char *mac, char *name, size_t len)
{
	char path[300], addr[64];
	struct dirent *de;
	DIR *d;
	FILE *f;
	int idx = -1;

	if ((d = opendir("/sys/class/net")) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL && idx == -1) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/sys/class/net/%s/address",
		    de->d_name);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		if (fgets(addr, sizeof(addr), f) != NULL) {
			addr[strcspn(addr, "\n")] = '\0';
			if (strcasecmp(addr, mac) == 0 &&
			    strlen(de->d_name) < len) {
				memcpy(
				    name, de->d_name, strlen(de->d_name) + 1);
				idx = sysfs_ifindex(de->d_name);
			}
		}
		fclose(f);
	}
	closedir(d);
	return idx;
}

/* "aa:bb:cc:dd:ee:ff" -> 6 bytes; -1 if it is not one unicast MAC. */
static int
parse_mac(const char *s, unsigned char mac[6])
{
	unsigned v[6];
	char end;
	int i;

	if (strlen(s) != 17 ||
	    sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3],
	        &v[4], &v[5], &end) != 6)
		return -1;
	for (i = 0; i < 6; i++)
		mac[i] = (unsigned char)v[i];
	if ((mac[0] & 1) != 0 || memcmp(mac, "\0\0\0\0\0\0", 6) == 0)
		return -1;
	return 0;
}

static void
nl_init(struct nlreq *r, unsigned short type, unsigned short flags, size_t body)
{
	memset(r, 0, sizeof(*r));
	r->nh.nlmsg_len = (unsigned)NLMSG_LENGTH(body);
	r->nh.nlmsg_type = type;
	r->nh.nlmsg_flags = flags;
}

static int
route_add(
    int fd, int ifindex, const char *dst, const char *gw, struct qb_error *err)
{
	unsigned char d[16], g[16];
	unsigned dp = 0, gp;
	int df = AF_INET, gf = 0;
	struct nlreq r;

	if (dst != NULL && dst[0] != '\0' &&
	    net_parse_cidr(dst, &df, d, &dp) == -1)
		return qb_seterr(
		    err, QB_E_INVALID, "route destination %s", dst);
	if (gw != NULL && gw[0] != '\0') {
		if (net_parse_cidr(gw, &gf, g, &gp) == -1)
			return qb_seterr(err, QB_E_INVALID, "gateway %s", gw);
		if (dst == NULL || dst[0] == '\0')
			df = gf;
	}
	nl_init(&r, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, sizeof(r.u.rt));
	r.u.rt.rtm_family = (unsigned char)df;
	r.u.rt.rtm_table = RT_TABLE_MAIN;
	r.u.rt.rtm_protocol = RTPROT_BOOT;
	r.u.rt.rtm_scope = gf ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK;
	r.u.rt.rtm_type = RTN_UNICAST;
	r.u.rt.rtm_dst_len = (unsigned char)dp;
	if (dp > 0)
		addattr(&r, RTA_DST, d, df == AF_INET ? 4 : 16);
	if (gf)
		addattr(&r, RTA_GATEWAY, g, gf == AF_INET ? 4 : 16);
	addattr(&r, RTA_OIF, &ifindex, sizeof(ifindex));
	if (nl_talk(fd, &r) == -1)
		return qb_seterr(err, QB_E_INTERNAL, "route %s via %s: %s",
		    dst && dst[0] ? dst : "default", gw && gw[0] ? gw : "link",
		    strerror(errno));
	return 0;
}

static int
write_resolv(const Qemubox__Guest__V1__ConfigureNetworkRequest *req)
{
	FILE *f;
	size_t i;

	if (req->n_nameservers == 0 && req->n_search == 0)
		return 0;
	if ((f = fopen("/etc/resolv.conf", "w")) == NULL)
		return -1;
	for (i = 0; i < req->n_nameservers; i++)
		fprintf(f, "nameserver %s\n", req->nameservers[i]);
	if (req->n_search > 0) {
		fputs("search", f);
		for (i = 0; i < req->n_search; i++)
			fprintf(f, " %s", req->search[i]);
		fputc('\n', f);
	}
	return fclose(f);
}

int
net_config_apply(const Qemubox__Guest__V1__ConfigureNetworkRequest *req,
    struct qb_error *err)
{
	unsigned char a[16];
	unsigned prefix;
	char ifname[IFNAMSIZ + 1] = "";
	struct nlreq r;
	int fd, ifindex, fam, rc = -1;
	unsigned mtu;
	unsigned char newmac[6];
	bool set_mac = req->set_mac != NULL && req->set_mac[0] != '\0';
	size_t i;

	if (req->mac == NULL || req->mac[0] == '\0')
		return qb_seterr(err, QB_E_INVALID, "ConfigureNetwork: no MAC");
	if (set_mac && parse_mac(req->set_mac, newmac) == -1)
		return qb_seterr(err, QB_E_INVALID,
		    "ConfigureNetwork: set_mac %.32s is not a unicast MAC",
		    req->set_mac);
	if ((ifindex = ifindex_by_mac(req->mac, ifname, sizeof(ifname))) <= 0)
		return qb_seterr(err, QB_E_NOTFOUND,
		    "no network interface with MAC %s", req->mac);
	if ((fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE)) ==
	    -1)
		return qb_seterr(
		    err, QB_E_INTERNAL, "netlink: %s", strerror(errno));

	/*
	 * A clone's NIC still has its template's MAC: it takes the one the
	 * host wired (privnet's veth) first, so the bridge, IPAM and firewall
	 * see this VM and not every clone under one address. virtio-net tells
	 * QEMU (control queue), whose receive filter follows.
	 */
	if (set_mac) {
		nl_init(&r, RTM_NEWLINK, 0, sizeof(r.u.ifi));
		r.u.ifi.ifi_family = AF_UNSPEC;
		r.u.ifi.ifi_index = ifindex;
		addattr(&r, IFLA_ADDRESS, newmac, sizeof(newmac));
		if (nl_talk(fd, &r) == -1) {
			qb_seterr(err, QB_E_INTERNAL, "%s: set MAC %s: %s",
			    ifname, req->set_mac, strerror(errno));
			goto out;
		}
	}
	/* MTU, then up. */
	nl_init(&r, RTM_NEWLINK, 0, sizeof(r.u.ifi));
	r.u.ifi.ifi_family = AF_UNSPEC;
	r.u.ifi.ifi_index = ifindex;
	r.u.ifi.ifi_flags = IFF_UP;
	r.u.ifi.ifi_change = IFF_UP;
	if (req->mtu > 0) {
		mtu = req->mtu;
		addattr(&r, IFLA_MTU, &mtu, sizeof(mtu));
	}
	if (nl_talk(fd, &r) == -1) {
		qb_seterr(err, QB_E_INTERNAL, "%s up (mtu %u): %s", ifname,
		    req->mtu, strerror(errno));
		goto out;
	}
	for (i = 0; i < req->n_addresses; i++) {
		if (net_parse_cidr(req->addresses[i], &fam, a, &prefix) == -1) {
			qb_seterr(
			    err, QB_E_INVALID, "address %s", req->addresses[i]);
			goto out;
		}
		nl_init(&r, RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE,
		    sizeof(r.u.ifa));
		r.u.ifa.ifa_family = (unsigned char)fam;
		r.u.ifa.ifa_prefixlen = (unsigned char)prefix;
		r.u.ifa.ifa_index = (unsigned)ifindex;
		addattr(&r, IFA_LOCAL, a, fam == AF_INET ? 4 : 16);
		addattr(&r, IFA_ADDRESS, a, fam == AF_INET ? 4 : 16);
		if (nl_talk(fd, &r) == -1) {
			qb_seterr(err, QB_E_INTERNAL, "address %s on %s: %s",
			    req->addresses[i], ifname, strerror(errno));
			goto out;
		}
	}
	for (i = 0; i < req->n_routes; i++) {
		const char *d = req->routes[i]->destination;
		/* The default route is the gateway's, added below. */
		if (req->gateway != NULL && req->gateway[0] != '\0' &&
		    (d == NULL || strcmp(d, "0.0.0.0/0") == 0 ||
		        strcmp(d, "::/0") == 0) &&
		    (req->routes[i]->gateway == NULL ||
		        req->routes[i]->gateway[0] == '\0'))
			continue;
		if (route_add(fd, ifindex, d, req->routes[i]->gateway, err) ==
		    -1)
			goto out;
	}
	if (req->gateway != NULL && req->gateway[0] != '\0' &&
	    route_add(fd, ifindex, NULL, req->gateway, err) == -1)
		goto out;
	if (write_resolv(req) == -1)
		log_warn("%s: /etc/resolv.conf", __func__);
	if (req->hostname != NULL && req->hostname[0] != '\0' &&
	    sethostname(req->hostname, strlen(req->hostname)) == -1)
		log_warn("%s: sethostname", __func__);
	log_info("%s: %s up with %zu address(es)", __func__, ifname,
	    req->n_addresses);
	memcpy(net_ifname, ifname, sizeof(net_ifname));
	rc = 0;
out:
	close(fd);
	return rc;
}

/*
 * The kernel marks a link running (operstate up, IFF_RUNNING) from its link
 * watch, which handles a non-urgent carrier change at most once a second.
 * virtio-net with the link status feature reports carrier off, then on
 * from a work item, at probe: the second change waited for the next run,
 * up to a second after the driver loaded, and a container started before
 * that saw eth0 down (NO-CARRIER). vmmon offers the NIC without that
 * feature (vmmon/qemu_argv.c: status=off), so the carrier is on within the
 * probe and the link runs as soon as ConfigureNetwork brings it up; this
 * checks that before a container starts, and waits (logged) if a kernel
 * or device ever takes longer.
 */
int
net_link_wait_running(unsigned timeout_ms)
{
	struct ifreq ifr;
	uint64_t t0 = evloop_now_ns() / 1000000, waited;
	struct timespec step = {0, NET_RUNNING_POLL_MS * 1000000L};
	int s, polls = 0, rc = -1;

	if (net_ifname[0] == '\0')
		return 0;
	if ((s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, net_ifname, sizeof(ifr.ifr_name) - 1);
	for (;;) {
		if (ioctl(s, SIOCGIFFLAGS, &ifr) == -1)
			break;
		waited = evloop_now_ns() / 1000000 - t0;
		if ((ifr.ifr_flags & (IFF_UP | IFF_RUNNING)) ==
		    (IFF_UP | IFF_RUNNING)) {
			if (polls > 0)
				log_info("%s: %s running after %llu ms",
				    __func__, net_ifname,
				    (unsigned long long)waited);
			rc = 0;
			break;
		}
		if (waited >= timeout_ms) {
			log_warnx("%s: %s not running after %llu ms", __func__,
			    net_ifname, (unsigned long long)waited);
			errno = ETIMEDOUT;
			break;
		}
		nanosleep(&step, NULL);
		polls++;
	}
	close(s);
	return rc;
}
