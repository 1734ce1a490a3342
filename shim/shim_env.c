#include "shim/shim_env.h"

#include <dirent.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* An absolute path to a directory with at least one entry. */
static bool
useful_dir(const char *path)
{
	struct dirent *de;
	bool any = false;
	DIR *d;

	if (path[0] != '/' || (d = opendir(path)) == NULL)
		return false;
	while (!any && (de = readdir(d)) != NULL)
		any = strcmp(de->d_name, ".") != 0 &&
		      strcmp(de->d_name, "..") != 0;
	closedir(d);
	return any;
}

void
shim_env_ld_path(const char *in, char *out, size_t len)
{
	const char *p = in, *end;
	char dir[PATH_MAX];
	size_t n, used = 0;

	if (len == 0)
		return;
	out[0] = '\0';
	for (; *p != '\0'; p = *end == ':' ? end + 1 : end) {
		end = strchrnul(p, ':');
		n = (size_t)(end - p);
		if (n == 0 || n >= sizeof(dir))
			continue;
		memcpy(dir, p, n);
		dir[n] = '\0';
		if (!useful_dir(dir))
			continue;
		/* An entry that does not fit is dropped, never cut. */
		if (used + (used > 0) + n + 1 > len)
			continue;
		if (used > 0)
			out[used++] = ':';
		memcpy(out + used, dir, n + 1);
		used += n;
	}
}

void
shim_env_sanitize(void)
{
	const char *cur = getenv("LD_LIBRARY_PATH");
	char clean[8192];

	if (cur == NULL)
		return;
	shim_env_ld_path(cur, clean, sizeof(clean));
	/* No log line: `start` answers containerd on stdout. */
	if (strcmp(clean, cur) == 0)
		return;
	if (clean[0] == '\0')
		unsetenv("LD_LIBRARY_PATH");
	else
		setenv("LD_LIBRARY_PATH", clean, 1);
}
