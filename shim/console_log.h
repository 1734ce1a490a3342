/*
 * <log_dir>/<sandbox>/console.log: the guest's serial console, written by
 * qemubox-vmmon through an fd the shim opens (vmmon's jail has no view of
 * the log dir). vmmon stops at runtime.console_log_max_kb and says so
 * (QB_VMM_GUEST_EVT_CONSOLE_TRUNCATED); the shim then rotates: the file's
 * content goes to console.log.1 (the one older generation kept) and
 * console.log is emptied in place, which vmmon sees and writes on. At
 * Delete both go unless runtime.keep_logs.
 */
#ifndef QEMUBOX_SHIM_CONSOLE_LOG_H
#define QEMUBOX_SHIM_CONSOLE_LOG_H

#include <stdbool.h>

#include "lib/error.h"

#define CONSOLE_LOG      "console.log"
#define CONSOLE_LOG_PREV "console.log.1"

/* A new, empty console.log in dir (an older console.log.1 is removed);
 * the fd (O_WRONLY|O_APPEND) for vmmon, or -1 with err filled. */
int console_log_open(const char *dir, struct qb_error *err);

/* console.log -> console.log.1, console.log emptied. 0, or -1 with errno. */
int console_log_rotate(const char *dir);

/* Both files and dir itself, unless keep. */
void console_log_remove(const char *dir, bool keep);

#endif
