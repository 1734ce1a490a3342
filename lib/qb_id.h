/*
 * The one id rule, on the host and in the guest: a container, exec or
 * sandbox id is containerd's identifier, [A-Za-z0-9]+ joined by single
 * '.', '_' or '-', of 1..QB_ID_LEN_MAX bytes (containerd's own bound, so an
 * id containerd accepts is never cut short: CRI's are 64 hex digits).
 * Header-only so that every binary (shim, helpers, vminitd) has it without
 * a build-list change.
 */
#ifndef QEMUBOX_LIB_QB_ID_H
#define QEMUBOX_LIB_QB_ID_H

#include <stdbool.h>
#include <string.h>

#define QB_ID_LEN_MAX 76

static inline bool
qb_id_valid(const char *s)
{
	size_t i, n = strnlen(s, QB_ID_LEN_MAX + 1);
	bool sep = true; /* the previous byte was a separator (or none) */

	if (n == 0 || n > QB_ID_LEN_MAX)
		return false;
	for (i = 0; i < n; i++) {
		char c = s[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9'))
			sep = false;
		else if ((c == '.' || c == '_' || c == '-') && !sep)
			sep = true;
		else
			return false;
	}
	return !sep;
}

#endif
