/*
 * privnet's one privilege drop. privnet stays uid 0 (CNI plugins expect root:
 * /var/lib/cni, /run/xtables.lock, /proc/sys/net are root-owned) but keeps
 * only the capabilities below, in every set: effective/permitted for itself,
 * inheritable + ambient so the exec'd plugins get exactly these and nothing
 * else (a root execve would otherwise fill the permitted set from the
 * bounding set, which is cut to the same list).
 */
#include <linux/capability.h>

#include "lib/caps_keep.h"
#include "lib/log.h"
#include "privnet/privnet.h"

static const int kept[] = {
    /* Links, addresses, routes, the TAP, tc qdiscs/filters; the bridge
     * plugin's veth + bridge; iptables/nft rules of firewall/portmap;
     * net sysctls (ip_forward) the bridge plugin writes. */
    CAP_NET_ADMIN,
    /* unshare(CLONE_NEWNET) and the bind mount of /run/netns/qemubox-<id>
     * (privnet), setns(2) into the sandbox netns (privnet and every
     * plugin). */
    CAP_SYS_ADMIN,
    /* The bridge plugin's gratuitous ARP (packet socket) and iptables'
     * raw socket. */
    CAP_NET_RAW,
};

int
privnet_priv_drop(void)
{
	return caps_keep_only(kept, sizeof(kept) / sizeof(kept[0]));
}
