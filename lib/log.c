#include "lib/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *log_procname = "qemubox";
static int log_debug_on;
static enum log_level log_max = LOG_LEVEL_INFO;
static int log_fd = STDERR_FILENO;

void
log_init(const char *procname, int debug)
{
	log_procname = procname;
	log_debug_on = debug;
	log_max = debug ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO;
}

void
log_set_max_level(enum log_level max)
{
	log_max = max;
}

void
log_set_fd(int fd)
{
	log_fd = fd;
}

void
log_set_procname(const char *procname)
{
	log_procname = procname;
}

int
log_get_debug(void)
{
	return log_debug_on;
}

static const char *
level_name(enum log_level level)
{
	switch (level) {
	case LOG_LEVEL_WARN:
		return "warn";
	case LOG_LEVEL_INFO:
		return "info";
	case LOG_LEVEL_DEBUG:
		return "debug";
	}
	return "unknown";
}

/*
 * One write(2) per line so lines from concurrent processes sharing a FIFO
 * do not interleave (PIPE_BUF atomicity); the line is cut to fit.
 */
void
vlog(enum log_level level, int with_errno, const char *fmt, va_list ap)
{
	char msg[1024], line[1536], ts[40];
	struct timespec now;
	struct tm tm;
	int saved = errno, n;
	size_t i, o;

	if (level > log_max)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (with_errno) {
		size_t len = strlen(msg);
		snprintf(msg + len, sizeof(msg) - len, ": %s", strerror(saved));
	}
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	n = (int)strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(
	    ts + n, sizeof(ts) - (size_t)n, ".%03ldZ", now.tv_nsec / 1000000);

	n = snprintf(line, sizeof(line), "time=%s level=%s proc=%s msg=\"", ts,
	    level_name(level), log_procname);
	o = (size_t)n;
	/* logfmt quoting: escape quotes and backslashes, drop control chars. */
	for (i = 0; msg[i] != '\0' && o + 4 < sizeof(line); i++) {
		unsigned char c = (unsigned char)msg[i];
		if (c == '"' || c == '\\') {
			line[o++] = '\\';
			line[o++] = (char)c;
		} else if (c == '\n') {
			line[o++] = '\\';
			line[o++] = 'n';
		} else if (c >= 0x20)
			line[o++] = (char)c;
	}
	line[o++] = '"';
	line[o++] = '\n';
	(void)!write(log_fd, line, o);
	errno = saved;
}

#define LOG_BODY(level, with_errno)               \
	do {                                      \
		va_list ap;                       \
		va_start(ap, fmt);                \
		vlog(level, with_errno, fmt, ap); \
		va_end(ap);                       \
	} while (0)

void
log_warn(const char *fmt, ...)
{
	LOG_BODY(LOG_LEVEL_WARN, 1);
}

void
log_warnx(const char *fmt, ...)
{
	LOG_BODY(LOG_LEVEL_WARN, 0);
}

void
log_info(const char *fmt, ...)
{
	LOG_BODY(LOG_LEVEL_INFO, 0);
}

void
log_debug(const char *fmt, ...)
{
	LOG_BODY(LOG_LEVEL_DEBUG, 0);
}

void
fatal(const char *fmt, ...)
{
	LOG_BODY(LOG_LEVEL_WARN, 1);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	LOG_BODY(LOG_LEVEL_WARN, 0);
	exit(1);
}
