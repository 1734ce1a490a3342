#include "lib/path.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int
qb_path_join(char *out, size_t len, const char *dir, const char *name)
{
	int n = snprintf(out, len, "%s/%s", dir, name);

	if (n < 0 || (size_t)n >= len) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

int
qb_path_self_dir(char *out, size_t len)
{
	char *slash;
	ssize_t n;

	if (len == 0 || (n = readlink("/proc/self/exe", out, len)) <= 0)
		return -1;
	if ((size_t)n >= len) {
		errno = ENAMETOOLONG;
		return -1;
	}
	out[n] = '\0';
	if ((slash = strrchr(out, '/')) == NULL) {
		errno = ENOENT;
		return -1;
	}
	*slash = '\0';
	return 0;
}
