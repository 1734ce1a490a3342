#include "lib/vmmon_args.h"

#include <stdio.h>

void
vmmon_spawn_args(const struct qb_config *cfg, uint32_t uid, bool debug,
    const char **a, char *tbuf, size_t tlen, char *ubuf, size_t ulen)
{
	uint64_t t;
	int n = 0;

	if (cfg != NULL) {
		/* vmmon accepts 1..600000 ms per step. */
		t = cfg->runtime.shutdown_timeout_ms;
		if (t == 0 || t > 600000)
			t = t == 0 ? 1 : 600000;
		snprintf(tbuf, tlen, "%llu", (unsigned long long)t);
		if (uid != 0) {
			snprintf(ubuf, ulen, "%u", uid);
			a[n++] = "-U";
			a[n++] = ubuf;
		} else {
			a[n++] = "-u";
			a[n++] = cfg->security.vmmon_user;
		}
		a[n++] = "-q";
		a[n++] = cfg->paths.qemu_path;
		a[n++] = "-s";
		a[n++] = cfg->paths.qemu_share_path;
		a[n++] = "-t";
		a[n++] = tbuf;
		if (cfg->security.seccomp == QB_SECCOMP_LOG)
			a[n++] = "-S";
	}
	if (debug)
		a[n++] = "-d";
	a[n] = NULL;
}
