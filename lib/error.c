#include "lib/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int
qb_seterr(struct qb_error *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return -1;
	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return -1;
}

int
qb_preferr(struct qb_error *err, const char *fmt, ...)
{
	char prefix[256], old[sizeof(err->msg)];
	va_list ap;

	if (err == NULL)
		return -1;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	memcpy(old, err->msg, sizeof(old));
	snprintf(err->msg, sizeof(err->msg), "%s: %s", prefix, old);
	if (err->code == QB_E_OK)
		err->code = QB_E_UNKNOWN;
	return -1;
}

void
qb_clearerr(struct qb_error *err)
{
	if (err != NULL) {
		err->code = QB_E_OK;
		err->msg[0] = '\0';
	}
}
