/*
 * What the spawner accepts before it starts anything (spawner/spawner.h).
 */
#include <string.h>

#include "spawner/spawner.h"

#define SNAP_PREFIX "io.containerd.snapshotter.v1."

int
spawner_is_snapshot_path(const char *real)
{
	const char *s, *comp, *p;
	size_t len = strlen(real);

	/* .../snapshots/<digits>/fs */
	if (real[0] != '/' || len < 4 || strcmp(real + len - 3, "/fs") != 0)
		return 0;
	p = real + len - 3; /* the slash before "fs" */
	s = p;
	while (s > real && s[-1] >= '0' && s[-1] <= '9')
		s--;
	if (s == p || s - real < (long)sizeof("/snapshots/") - 1 ||
	    strncmp(s - (sizeof("/snapshots/") - 1), "/snapshots/",
	        sizeof("/snapshots/") - 1) != 0)
		return 0;
	s -= sizeof("/snapshots/") - 1; /* the slash before "snapshots" */
	/* the component before it: io.containerd.snapshotter.v1.<name> */
	comp = s;
	while (comp > real && comp[-1] != '/')
		comp--;
	if (comp == real || (size_t)(s - comp) <= strlen(SNAP_PREFIX) ||
	    strncmp(comp, SNAP_PREFIX, strlen(SNAP_PREFIX)) != 0)
		return 0;
	for (p = comp + strlen(SNAP_PREFIX); p < s; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
		        *p == '-' || *p == '_' || *p == '.'))
			return 0;
	return 1;
}
