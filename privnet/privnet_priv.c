/*
 * privnet's one privilege drop. privnet stays uid 0 (CNI plugins expect root:
 * /var/lib/cni, /run/xtables.lock, /proc/sys/net are root-owned) but keeps
 * only the capabilities below, in every set: effective/permitted for itself,
 * inheritable + ambient so the exec'd plugins get exactly these and nothing
 * else (a root execve would otherwise fill the permitted set from the
 * bounding set, which is cut to the same list).
 */
#include <linux/capability.h>
#include <sys/prctl.h>

#include <cap-ng.h>
#include <errno.h>
#include <unistd.h>

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
	size_t i;

	capng_clear(CAPNG_SELECT_ALL);
	for (i = 0; i < sizeof(kept) / sizeof(kept[0]); i++)
		if (capng_update(CAPNG_ADD,
		        CAPNG_EFFECTIVE | CAPNG_PERMITTED | CAPNG_INHERITABLE |
		            CAPNG_BOUNDING_SET | CAPNG_AMBIENT,
		        (unsigned)kept[i]) == -1) {
			log_warnx("%s: capng_update %d", __func__, kept[i]);
			errno = EPERM;
			return -1;
		}
	/* Bounding set first (needs CAP_SETPCAP, which we still hold), then
	 * the rest; libcap-ng orders this inside capng_apply. */
	if (capng_apply(CAPNG_SELECT_ALL) != 0) {
		log_warnx("%s: capng_apply failed", __func__);
		errno = EPERM;
		return -1;
	}

	/* Self-check: what we dropped must be gone for good. */
	capng_get_caps_process();
	if (capng_have_capability(CAPNG_EFFECTIVE, CAP_SETPCAP) ||
	    capng_have_capability(CAPNG_PERMITTED, CAP_SYS_MODULE) ||
	    capng_have_capability(CAPNG_BOUNDING_SET, CAP_DAC_OVERRIDE) ||
	    capng_have_capability(CAPNG_PERMITTED, CAP_SYS_PTRACE) ||
	    prctl(PR_CAPBSET_READ, CAP_SYS_MODULE, 0, 0, 0) != 0 ||
	    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, CAP_NET_ADMIN, 0, 0) !=
	        1)
		fatalx("%s: capabilities not dropped as required", __func__);
	capng_clear(CAPNG_SELECT_ALL);
	capng_update(
	    CAPNG_ADD, CAPNG_EFFECTIVE | CAPNG_PERMITTED, CAP_SYS_MODULE);
	if (capng_apply(CAPNG_SELECT_CAPS) == 0)
		fatalx("%s: regained CAP_SYS_MODULE", __func__);
	return 0;
}
