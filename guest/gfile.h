/*
 * Whole-file reads and writes for the guest (PID 1 set-up, the agent, crun
 * bundles): one copy of the open/loop/close pattern.
 */
#ifndef QEMUBOX_GUEST_GFILE_H
#define QEMUBOX_GUEST_GFILE_H

#include <stddef.h>
#include <sys/types.h>

/*
 * Write the n bytes of data to path, opened O_WRONLY | O_CLOEXEC | oflags
 * (mode applies with O_CREAT). Short writes and EINTR are retried. Returns 0,
 * or -1 with errno (a close error counts).
 */
int gfile_write(
    const char *path, const void *data, size_t n, int oflags, mode_t mode);

/*
 * Replace path atomically: write "<path>.tmp" (created with mode), then
 * rename it over path. Returns 0, or -1 with errno (the temporary is gone).
 */
int gfile_replace(const char *path, const void *data, size_t n, mode_t mode);

/*
 * Read at most size - 1 bytes of path (one read) into buf and NUL-terminate
 * it. Returns the number of bytes read, or -1 with errno.
 */
ssize_t gfile_read(const char *path, char *buf, size_t size);

#endif
