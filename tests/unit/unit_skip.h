/*
 * Skipping a cmocka test with a reason tests/run can judge. cmocka prints
 * "not ok N # SKIP <test>" with no room for a reason, so the reason goes on
 * a TAP comment line just before: "# skip: WHY". Under CI=true only a host
 * capability may skip (tests/lib/tap.sh: tap_host_cap, TAP_HOST_CAPS); write
 * such a reason as "host capability landlock: ...". Anything else (a missing
 * package, not root) is a skip outside CI and a failure in it.
 */
#ifndef QEMUBOX_UNIT_SKIP_H
#define QEMUBOX_UNIT_SKIP_H

#include <stdio.h>

#define skip_because(...)                       \
	do {                                    \
		printf("# skip: " __VA_ARGS__); \
		printf("\n");                   \
		fflush(stdout);                 \
		skip();                         \
	} while (0)

#endif
