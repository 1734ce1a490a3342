#include <net/if.h>

#include <string.h>

#include "lib/qb_id.h"
#include "privnet/privnet.h"

static int
id_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
}

int
privnet_valid_cni_name(const char *s, size_t max)
{
	size_t n = strnlen(s, max);

	if (n == 0 || n >= max || !id_char(s[0]) || s[0] == '_' ||
	    s[0] == '.' || s[0] == '-')
		return 0;
	for (; *s; s++)
		if (!id_char(*s))
			return 0;
	return 1;
}

int
privnet_valid_id(const char *id)
{
	return qb_id_valid(id);
}

int
privnet_valid_ifname(const char *name)
{
	size_t n = strnlen(name, IFNAMSIZ);
	const char *p;

	/* The qemu-bridge-helper lesson: strlen(name) >= IFNAMSIZ is a bug. */
	if (n == 0 || n >= IFNAMSIZ)
		return 0;
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return 0;
	for (p = name; *p; p++)
		if (*p == '/' || *p == ':' || (unsigned char)*p <= ' ' ||
		    (unsigned char)*p >= 0x7f)
			return 0;
	return 1;
}

int
privnet_valid_netns_path(const char *path)
{
	static const char *const roots[] = {
	    "/run/netns/", "/var/run/netns/", NULL};
	size_t n = strnlen(path, QB_NETNS_PATH_MAX);
	const char *p, *rest = NULL;
	int i;

	if (n == 0 || n >= QB_NETNS_PATH_MAX)
		return 0;
	for (i = 0; roots[i] != NULL; i++)
		if (strncmp(path, roots[i], strlen(roots[i])) == 0)
			rest = path + strlen(roots[i]);
	if (rest == NULL || *rest == '\0')
		return 0;
	/* One file name directly in the root: no '/', so no ".." trick. */
	if (strchr(rest, '/') != NULL || strcmp(rest, ".") == 0 ||
	    strcmp(rest, "..") == 0)
		return 0;
	for (p = rest; *p; p++)
		if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f)
			return 0;
	return 1;
}
