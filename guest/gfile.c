/*
 * Whole-file reads and writes (guest/gfile.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <unistd.h>

#include "guest/gfile.h"

int
gfile_write(
    const char *path, const void *data, size_t n, int oflags, mode_t mode)
{
	const char *p = data;
	size_t off = 0;
	ssize_t w;
	int fd, saved;

	if ((fd = open(path, O_WRONLY | O_CLOEXEC | oflags, mode & 07777)) ==
	    -1)
		return -1;
	while (off < n) {
		if ((w = write(fd, p + off, n - off)) == -1) {
			if (errno == EINTR)
				continue;
			saved = errno;
			close(fd);
			errno = saved;
			return -1;
		}
		off += (size_t)w;
	}
	return close(fd);
}

int
gfile_replace(const char *path, const void *data, size_t n, mode_t mode)
{
	char tmp[PATH_MAX];
	int saved;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if (gfile_write(tmp, data, n, O_CREAT | O_TRUNC, mode) == -1 ||
	    rename(tmp, path) == -1) {
		saved = errno;
		(void)unlink(tmp);
		errno = saved;
		return -1;
	}
	return 0;
}

ssize_t
gfile_read(const char *path, char *buf, size_t size)
{
	ssize_t n;
	int fd, saved;

	if (size == 0) {
		errno = EINVAL;
		return -1;
	}
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	while ((n = read(fd, buf, size - 1)) == -1 && errno == EINTR)
		;
	saved = errno;
	close(fd);
	if (n == -1) {
		errno = saved;
		return -1;
	}
	buf[n] = '\0';
	return n;
}
