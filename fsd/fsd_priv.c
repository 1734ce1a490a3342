/*
 * qemubox-fsd's one privilege drop, before it reads any request. fsd stays
 * uid 0 and keeps, in every set (ambient too, so the virtiofsd it executes
 * gets exactly these and nothing else), only what serving files of any
 * owner needs plus what setting up the share needs. Why each one:
 */
#include <linux/capability.h>
#include <sys/prctl.h>

#include <errno.h>
#include <unistd.h>

#include "fsd/fsd.h"
#include "lib/caps_keep.h"
#include "lib/log.h"

static const int kept[] = {
    /* fsd: unshare(CLONE_NEWNS), the share's tmpfs and bind mounts;
     * virtiofsd: its own sandbox (new mount, pid and net namespaces,
     * pivot_root into the share). virtiofsd gives it up afterwards. */
    CAP_SYS_ADMIN,
    /* virtiofsd: empties its bounding set after the sandbox is set up. */
    CAP_SETPCAP,
    /* virtiofsd, per request: act as the guest's uid/gid (setresuid,
     * setresgid) when creating files, so new files get the caller's
     * owner. */
    CAP_SETUID,
    CAP_SETGID,
    /* virtiofsd: chown(2) for the guest's chown; mode and owner checks
     * are the guest kernel's, so the host side must not refuse what the
     * guest allowed (files of any owner and mode in the volume). */
    CAP_CHOWN,
    CAP_DAC_OVERRIDE,
    CAP_FOWNER,
    /* virtiofsd: keep set-group-ID bits on write/chown as the guest
     * asked (the volume is mounted nosuid on the host side). */
    CAP_FSETID,
};

int
fsd_priv_drop(void)
{
	if (caps_keep_only(kept, sizeof(kept) / sizeof(kept[0])) == -1)
		return -1;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1) {
		log_warn("%s: PR_SET_NO_NEW_PRIVS", __func__);
		return -1;
	}
	return 0;
}
