#include "lib/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int
qb_vseterr(struct qb_error *err, int code, const char *fmt, va_list ap)
{
	if (err == NULL)
		return -1;
	err->code = code;
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	return -1;
}

int
qb_seterr(struct qb_error *err, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	qb_vseterr(err, code, fmt, ap);
	va_end(ap);
	return -1;
}

int
qb_preferr(struct qb_error *err, const char *fmt, ...)
{
	char old[sizeof(err->msg)];
	size_t n, oldlen;
	va_list ap;
	int w;

	if (err == NULL)
		return -1;
	memcpy(old, err->msg, sizeof(old));
	old[sizeof(old) - 1] = '\0';
	va_start(ap, fmt);
	w = vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	/* Append ": <old>" to the prefix, cutting at the buffer's end. */
	n = w < 0 ? 0 : (size_t)w;
	if (n > sizeof(err->msg) - 1)
		n = sizeof(err->msg) - 1;
	oldlen = strlen(old);
	if (n + 2 + oldlen > sizeof(err->msg) - 1)
		oldlen = sizeof(err->msg) - 1 > n + 2
		             ? sizeof(err->msg) - 1 - n - 2
		             : 0;
	if (n + 2 <= sizeof(err->msg) - 1) {
		memcpy(err->msg + n, ": ", 2);
		memcpy(err->msg + n + 2, old, oldlen);
		err->msg[n + 2 + oldlen] = '\0';
	}
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
