/*
 * Who owns a sandbox's network: the one rule privnet (before NET_SETUP
 * reuses an id) and qemubox-cleanup (before removing anything) apply.
 *
 * A pid alone proves nothing: pids are reused, and a shim SIGKILLed long ago
 * may have a new, unrelated process in its slot. The record therefore holds
 * the owner's pid and its start time (/proc/<pid>/stat field 22); the owner
 * lives only if a process with that pid exists now with the same start time.
 * Both are only meaningful within one boot (the record keeps the boot id)
 * and one pid namespace (it keeps that too: a cleanup run from another pid
 * namespace cannot judge by pid and looks at the netns instead).
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
	const char *basis;
	char dummy[1], other[96];

	if (why == NULL || whylen == 0) {
		why = dummy;
		whylen = sizeof(dummy);
	}
	if (f->has_record && f->owner_pid > 0 && f->owner_start != 0) {
		/* Start times count from boot: after a reboot a new process
		 * may have the same pid and start time, and none of the old
		 * ones runs. */
		if (f->owner_boot_differs) {
			snprintf(why, whylen,
			    "its shim (pid %lld) ran before the host rebooted",
			    (long long)f->owner_pid);
			return NET_CLAIM_STALE;
		}
		if (!f->owner_pidns_differs) {
			if (f->owner_start_now == f->owner_start) {
				snprintf(why, whylen,
				    "its shim (pid %lld) is running",
				    (long long)f->owner_pid);
				return NET_CLAIM_LIVE;
			}
			if (f->worker_alive) {
				/* It finds the shim gone when it answers,
				 * and undoes the setup itself. */
				snprintf(why, whylen,
				    "its shim (pid %lld) is gone, but its "
				    "privnet is still at work",
				    (long long)f->owner_pid);
				return NET_CLAIM_LIVE;
			}
			if (f->owner_start_now == 0)
				snprintf(why, whylen,
				    "its shim (pid %lld) is gone",
				    (long long)f->owner_pid);
			else
				snprintf(why, whylen,
				    "its shim (pid %lld) is gone; the pid now "
				    "belongs to another process",
				    (long long)f->owner_pid);
			return NET_CLAIM_STALE;
		}
		/* Its pid means nothing in our pid namespace. */
		snprintf(other, sizeof(other),
		    "its shim (pid %lld) is in another pid namespace",
		    (long long)f->owner_pid);
		basis = other;
	} else
		basis = f->has_record ? "no owner recorded" : "no record";
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
