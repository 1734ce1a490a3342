/*
 * Keep a listed capability set in every set, then verify it (caps_keep.h).
 */
#include <linux/capability.h>
#include <sys/prctl.h>

#include <cap-ng.h>
#include <errno.h>
#include <stdbool.h>

#include "lib/caps_keep.h"
#include "lib/log.h"

static bool
listed(const int *kept, size_t n, int cap)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (kept[i] == cap)
			return true;
	return false;
}

/* The kernel's view of this process is exactly the list, in every set. */
static void
caps_verify(const int *kept, size_t n)
{
	bool want;
	int c;

	if (capng_get_caps_process() != 0)
		fatalx("%s: cannot read this process's capabilities", __func__);
	for (c = 0; c <= CAP_LAST_CAP; c++) {
		if (prctl(PR_CAPBSET_READ, c, 0, 0, 0) < 0)
			break; /* the running kernel knows fewer */
		want = listed(kept, n, c);
		if (capng_have_capability(CAPNG_EFFECTIVE, c) != want ||
		    capng_have_capability(CAPNG_PERMITTED, c) != want ||
		    capng_have_capability(CAPNG_INHERITABLE, c) != want ||
		    (prctl(PR_CAPBSET_READ, c, 0, 0, 0) == 1) != want ||
		    (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, c, 0, 0) ==
		        1) != want)
			fatalx("%s: capability %d is %s but should %s",
			    __func__, c,
			    want ? "missing from a set" : "still held",
			    want ? "be kept" : "be gone");
	}
}

int
caps_keep_only(const int *kept, size_t n)
{
	size_t i;
	int probe = -1;

	capng_clear(CAPNG_SELECT_ALL);
	for (i = 0; i < n; i++)
		if (capng_update(CAPNG_ADD,
		        CAPNG_EFFECTIVE | CAPNG_PERMITTED | CAPNG_INHERITABLE |
		            CAPNG_BOUNDING_SET | CAPNG_AMBIENT,
		        (unsigned)kept[i]) == -1) {
			log_warnx("%s: capng_update %d", __func__, kept[i]);
			errno = EPERM;
			return -1;
		}
	/* libcap-ng cuts the bounding set first, while CAP_SETPCAP is still
	 * held, then sets the rest. */
	if (capng_apply(CAPNG_SELECT_ALL) != 0) {
		log_warnx("%s: capng_apply failed", __func__);
		errno = EPERM;
		return -1;
	}
	caps_verify(kept, n);

	/* A dropped capability cannot come back. */
	for (i = 0; i <= CAP_LAST_CAP && probe == -1; i++)
		if (!listed(kept, n, (int)i))
			probe = (int)i;
	if (probe != -1) {
		capng_clear(CAPNG_SELECT_ALL);
		capng_update(CAPNG_ADD, CAPNG_EFFECTIVE | CAPNG_PERMITTED,
		    (unsigned)probe);
		if (capng_apply(CAPNG_SELECT_CAPS) == 0)
			fatalx("%s: regained capability %d", __func__, probe);
	}
	return 0;
}
