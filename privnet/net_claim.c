/*
 * Who owns a sandbox's network: the rule privnet (before NET_SETUP reuses
 * an id) and qemubox-cleanup (before removing anything) apply. The record's
 * owner (the shim) is judged by owner_decide() (lib/owner.c), the rule every
 * crash-surviving record of qemubox shares; a shim judged gone whose privnet
 * still runs the plugins keeps the network alive.
 *
 * Without a record (the state dir was wiped) or an owner in it (records from
 * before owners were stamped), the netns itself is the evidence: the TAP is
 * not persistent, so it exists only while some process (QEMU) holds its fd;
 * and a process inside the netns or holding it open (a CNI plugin mid-ADD)
 * means it is being used. Anything we could not look at counts as in use:
 * a wrong "stale" destroys a running sandbox's network, a wrong "live" only
 * asks the administrator to name the id.
 */
#include <stdio.h>

#include "privnet/privnet.h"

enum net_claim
net_claim_decide(const struct net_facts *f, char *why, size_t whylen)
{
	struct owner_facts of = {.pid = f->owner_pid,
	    .start = f->owner_start,
	    .start_now = f->owner_start_now,
	    .boot_differs = f->owner_boot_differs,
	    .pidns_differs = f->owner_pidns_differs};
	char dummy[1], basis[128];

	if (why == NULL || whylen == 0) {
		why = dummy;
		whylen = sizeof(dummy);
	}
	if (f->has_record) {
		switch (owner_decide(&of, "its shim", basis, sizeof(basis))) {
		case OWNER_LIVE:
			snprintf(why, whylen, "%s", basis);
			return NET_CLAIM_LIVE;
		case OWNER_GONE:
			if (f->worker_alive && !f->owner_boot_differs) {
				/* It finds the shim gone when it answers,
				 * and undoes the setup itself. */
				snprintf(why, whylen,
				    "its shim (pid %lld) is gone, but its "
				    "privnet is still at work",
				    (long long)f->owner_pid);
				return NET_CLAIM_LIVE;
			}
			snprintf(why, whylen, "%s", basis);
			return NET_CLAIM_STALE;
		case OWNER_UNKNOWN:
			break;
		}
	} else
		snprintf(basis, sizeof(basis), "no record");
	if (!f->has_record && !f->netns_exists) {
		snprintf(why, whylen, "nothing left");
		return NET_CLAIM_FREE;
	}
	if (f->tap_present == 1) {
		snprintf(why, whylen, "%s, and a VM holds its TAP", basis);
		return NET_CLAIM_LIVE;
	}
	if (f->netns_users > 0) {
		snprintf(why, whylen, "%s, and %d process%s use%s the netns",
		    basis, f->netns_users, f->netns_users == 1 ? "" : "es",
		    f->netns_users == 1 ? "s" : "");
		return NET_CLAIM_LIVE;
	}
	if (f->tap_present < 0) {
		snprintf(why, whylen,
		    "%s, and its netns could not be inspected", basis);
		return NET_CLAIM_LIVE;
	}
	snprintf(why, whylen, "%s, no TAP, nobody in the netns", basis);
	return NET_CLAIM_STALE;
}
