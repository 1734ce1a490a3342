/*
 * What qemubox-fsd accepts from the shim (fsd/fsd.h).
 */
#include <limits.h>
#include <string.h>

#include "fsd/fsd.h"
#include "lib/qb_id.h"

bool
fsd_valid_id(const char *id)
{
	return qb_id_valid(id);
}

bool
fsd_valid_source(const char *path)
{
	const char *p = path;
	size_t n = strlen(path);

	if (n < 2 || n >= PATH_MAX || path[0] != '/')
		return false;
	while (*p != '\0') {
		const char *comp = ++p; /* past the slash */
		size_t len = strcspn(comp, "/");

		if (len == 0 && comp[0] == '/')
			return false; /* "//" */
		if ((len == 1 && comp[0] == '.') ||
		    (len == 2 && comp[0] == '.' && comp[1] == '.'))
			return false;
		p = comp + len;
	}
	return true;
}
