/*
 * Order matters, as in crun: securebits and the bounding set first, because
 * both need CAP_SETPCAP, which the capset that follows gives up; NoNewPrivs
 * before seccomp (the kernel requires it for an unprivileged filter) and so
 * nothing exec'ed later (mkfs.erofs) can gain privileges from file caps or
 * set-uid bits. Landlock and seccomp come last (the binary's wiring,
 * struct shim_wiring.confine, called by shim_serve right after this).
 */
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <linux/capability.h>
#include <linux/securebits.h>

#include <cap-ng.h>
#include <errno.h>
#include <grp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/log.h"
#include "shim/shim_priv.h"

/* Every securebit, set and locked: uid 0 is no longer special for us. */
#define SHIM_SECUREBITS                                                  \
	(SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP | \
	    SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_KEEP_CAPS_LOCKED |    \
	    SECBIT_NO_CAP_AMBIENT_RAISE | SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED)

int
shim_priv_verify(void)
{
	struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
	unsigned long cap;
	int bits, i;

	if (syscall(SYS_capget, &hdr, data) == -1) {
		log_warn("%s: capget", __func__);
		return -1;
	}
	for (i = 0; i < _LINUX_CAPABILITY_U32S_3; i++) {
		if (data[i].effective || data[i].permitted ||
		    data[i].inheritable) {
			log_warnx("%s: a capability is still held", __func__);
			return -1;
		}
	}
	for (cap = 0; cap <= 63; cap++) {
		int r = prctl(PR_CAPBSET_READ, cap, 0, 0, 0);
		if (r == -1)
			break; /* past the kernel's last capability */
		if (r == 1) {
			log_warnx(
			    "%s: capability %lu still in the bounding set",
			    __func__, cap);
			return -1;
		}
		if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, cap, 0, 0) ==
		    1) {
			log_warnx("%s: ambient capability %lu still set",
			    __func__, cap);
			return -1;
		}
	}
	bits = prctl(PR_GET_SECUREBITS, 0, 0, 0, 0);
	if (bits == -1 || (bits & SHIM_SECUREBITS) != SHIM_SECUREBITS) {
		log_warnx("%s: securebits 0x%x, want 0x%x", __func__, bits,
		    SHIM_SECUREBITS);
		return -1;
	}
	if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1) {
		log_warnx("%s: NoNewPrivs is not set", __func__);
		return -1;
	}
	/* Try to get something back, as OpenSSH does after dropping. */
	capng_get_caps_process();
	capng_update(
	    CAPNG_ADD, CAPNG_EFFECTIVE | CAPNG_PERMITTED, CAP_SYS_ADMIN);
	if (capng_apply(CAPNG_SELECT_CAPS) == 0) {
		log_warnx("%s: CAP_SYS_ADMIN could be raised again", __func__);
		return -1;
	}
	if (prctl(PR_SET_SECUREBITS, 0, 0, 0, 0) == 0) {
		log_warnx("%s: securebits could be cleared", __func__);
		return -1;
	}
	/* Without CAP_SETUID, uid 0 cannot become another uid... */
	if (setresuid(65534, 65534, 65534) == 0) {
		log_warnx("%s: setresuid still works", __func__);
		return -1;
	}
	/* ...nor may it change its gid list. */
	if (setgroups(0, NULL) == 0) {
		log_warnx("%s: setgroups still works", __func__);
		return -1;
	}
	return 0;
}

void
shim_priv_drop(const struct qb_config *cfg)
{
	(void)cfg;

	if (prctl(PR_SET_SECUREBITS, SHIM_SECUREBITS, 0, 0, 0) == -1)
		fatal("%s: PR_SET_SECUREBITS", __func__);
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) == -1)
		fatal("%s: PR_CAP_AMBIENT_CLEAR_ALL", __func__);
	/*
	 * Nothing is kept: the shim reads layers, bundles and FIFOs that
	 * containerd (root) owns with mode bits that let uid 0 in without
	 * CAP_DAC_OVERRIDE. A capability kept here needs a line in
	 * docs/SECURITY.md saying why.
	 */
	capng_clear(CAPNG_SELECT_ALL);
	if (capng_apply(CAPNG_SELECT_BOUNDS) == -1)
		fatalx("%s: cannot empty the bounding set", __func__);
	if (capng_apply(CAPNG_SELECT_CAPS) == -1)
		fatalx("%s: cannot clear the capability sets", __func__);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
		fatal("%s: PR_SET_NO_NEW_PRIVS", __func__);

	if (shim_priv_verify() == -1)
		fatalx("%s: privileges could be regained; refusing to serve",
		    __func__);
	/*
	 * Landlock + seccomp follow in the caller (the wiring's confine,
	 * shim_serve), after this self-check so the filter need not allow
	 * what the check tries.
	 */
	log_debug(
	    "%s: no capabilities, securebits locked, NoNewPrivs", __func__);
}
