#include "lib/ids_drop.h"

#include <sys/prctl.h>

#include <cap-ng.h>
#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <unistd.h>

#include "lib/log.h"

void
ids_drop(uid_t uid, gid_t gid, const gid_t *groups, int ngroups)
{
	int cap;
	uid_t ru, eu, su;
	gid_t rg, eg, sg;

	/* The bounding set first: dropping it needs CAP_SETPCAP. */
	for (cap = 0; cap <= CAP_LAST_CAP; cap++)
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) == -1 &&
		    errno != EINVAL)
			fatal("%s: drop bounding cap %d", __func__, cap);
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) == -1)
		fatal("%s: clear ambient", __func__);
	/* Leaving uid 0 must clear permitted and effective. */
	if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) == -1)
		fatal("%s: keepcaps", __func__);
	if (setgroups((size_t)ngroups, groups) == -1)
		fatal("%s: setgroups", __func__);
	if (setresgid(gid, gid, gid) == -1)
		fatal("%s: setresgid", __func__);
	if (setresuid(uid, uid, uid) == -1)
		fatal("%s: setresuid", __func__);

	/* Prove it: every id is the target, no way back, no capability. */
	if (getresuid(&ru, &eu, &su) == -1 || getresgid(&rg, &eg, &sg) == -1)
		fatal("%s: getresuid", __func__);
	if (ru != uid || eu != uid || su != uid || rg != gid || eg != gid ||
	    sg != gid)
		fatalx("%s: ids not dropped", __func__);
	if (setuid(0) != -1 || seteuid(0) != -1 || setgid(0) != -1)
		fatalx("%s: could regain root", __func__);
	capng_clear(CAPNG_SELECT_BOTH);
	capng_get_caps_process();
	if (capng_have_capabilities(CAPNG_SELECT_CAPS) != CAPNG_NONE)
		fatalx("%s: capabilities remain", __func__);
	for (cap = 0; cap <= CAP_LAST_CAP; cap++)
		if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) == 1)
			fatalx("%s: bounding cap %d remains", __func__, cap);
}
