#include "shim/console_log.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/path.h"

int
console_log_open(const char *dir, struct qb_error *err)
{
	static const char *const names[] = {CONSOLE_LOG_PREV, CONSOLE_LOG};
	char path[PATH_MAX];
	size_t i;
	int fd;

	/* A new file each time, whatever an earlier VM of this id left. */
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (qb_path_join(path, sizeof(path), dir, names[i]) == 0 &&
		    unlink(path) == -1 && errno != ENOENT)
			log_warn("%s: %s", __func__, path);
	if (qb_path_join(path, sizeof(path), dir, CONSOLE_LOG) == -1 ||
	    (fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC,
	         0640)) == -1)
		return qb_seterr(err, QB_E_INTERNAL, "open %s/%s: %s", dir,
		    CONSOLE_LOG, strerror(errno));
	return fd;
}

/*
 * A copy, not a rename: vmmon keeps writing to the file it was given and
 * cannot open another. It writes nothing while it waits for the rotation,
 * so nothing is lost between the copy and the truncation.
 */
int
console_log_rotate(const char *dir)
{
	char cur[PATH_MAX], prev[PATH_MAX], buf[65536];
	ssize_t n, w, off;
	int in = -1, out = -1, e;

	if (qb_path_join(cur, sizeof(cur), dir, CONSOLE_LOG) == -1 ||
	    qb_path_join(prev, sizeof(prev), dir, CONSOLE_LOG_PREV) == -1)
		return -1;
	if ((in = open(cur, O_RDWR | O_CLOEXEC | O_NOFOLLOW)) == -1 ||
	    (out = open(prev,
	         O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
	         0640)) == -1)
		goto fail;
	while ((n = read(in, buf, sizeof(buf))) != 0) {
		if (n == -1) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		for (off = 0; off < n; off += w) {
			if ((w = write(out, buf + off, (size_t)(n - off))) ==
			    -1) {
				if (errno != EINTR)
					goto fail;
				w = 0;
			}
		}
	}
	if (ftruncate(in, 0) == -1)
		goto fail;
	close(in);
	close(out);
	return 0;
fail:
	e = errno;
	if (in != -1)
		close(in);
	if (out != -1)
		close(out);
	errno = e;
	return -1;
}

void
console_log_remove(const char *dir, bool keep)
{
	static const char *const names[] = {CONSOLE_LOG, CONSOLE_LOG_PREV};
	char path[PATH_MAX];
	size_t i;

	if (dir[0] == '\0' || keep)
		return;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (qb_path_join(path, sizeof(path), dir, names[i]) == 0 &&
		    unlink(path) == -1 && errno != ENOENT)
			log_warn("%s: %s", __func__, path);
	if (rmdir(dir) == -1 && errno != ENOENT)
		log_warn("%s: %s", __func__, dir);
}
