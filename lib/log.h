/*
 * One logging convention for every qemubox process.
 *
 * Lines are logfmt so containerd's log (which copies the shim's stderr FIFO)
 * and journald both keep them readable:
 *   time=2026-11-28T13:46:56.123Z level=warn proc=qemubox-vmmon msg="vm_start:
 * open: ..." Messages start with __func__ by convention: log_warn("%s: open
 * %s", __func__, p). The x forms omit errno; the others append ":
 * strerror(errno)".
 */
#ifndef QEMUBOX_LOG_H
#define QEMUBOX_LOG_H

#include <stdarg.h>

enum log_level { LOG_LEVEL_WARN = 0, LOG_LEVEL_INFO = 1, LOG_LEVEL_DEBUG = 2 };

void log_init(const char *procname, int debug);
void log_set_fd(int fd);
void log_set_procname(const char *procname);
/* The most verbose level written: info, or debug after log_init(.., 1). */
void log_set_max_level(enum log_level max);
int log_get_debug(void);

void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fatal(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));
void vlog(enum log_level level, int with_errno, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

#endif
