/*
 * Errors that travel to a user.
 *
 * Convention (docs/HACKING.md): functions return 0 on success and -1 on
 * failure with errno set. A function whose failure must reach a user with a
 * precise message (an RPC answer, a config error) also takes a
 * `struct qb_error *err` as its last argument and fills it with qb_seterr(),
 * which returns -1 so callers can write `return qb_seterr(err, ...)`.
 * `code` is a gRPC status code (lib/error.h QB_E_*), the one containerd maps.
 */
#ifndef QEMUBOX_ERROR_H
#define QEMUBOX_ERROR_H

#include <stdarg.h>

enum qb_code {
	QB_E_OK = 0,
	QB_E_CANCELED = 1,
	QB_E_UNKNOWN = 2,
	QB_E_INVALID = 3,
	QB_E_DEADLINE = 4,
	QB_E_NOTFOUND = 5,
	QB_E_EXISTS = 6,
	QB_E_PERMISSION = 7,
	QB_E_EXHAUSTED = 8,
	QB_E_PRECONDITION = 9,
	QB_E_ABORTED = 10,
	QB_E_RANGE = 11,
	QB_E_UNIMPLEMENTED = 12,
	QB_E_INTERNAL = 13,
	QB_E_UNAVAILABLE = 14,
};

struct qb_error {
	int code;
	char msg[1024];
};

int qb_seterr(struct qb_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The same with a va_list, for functions that take a format themselves. */
int qb_vseterr(struct qb_error *err, int code, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));
/* Prefix an existing message: "create vm: " + old message. */
int qb_preferr(struct qb_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void qb_clearerr(struct qb_error *err);

#endif
