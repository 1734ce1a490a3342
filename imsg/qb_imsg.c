/*
 * qemubox typed readers for imsg payloads: the one place where bytes from a
 * peer become trusted values (validate once, at the boundary).
 */
#include <sys/stat.h>

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "imsg/imsg.h"
#include "imsg/qemubox_imsg.h"
#include "lib/error.h"

int
qb_imsg_get_struct(struct imsg *imsg, void *dst, size_t len)
{
	if (imsg_get_data(imsg, dst, len) == -1) {
		if (len > 0)
			memset(dst, 0, len);
		return -1;
	}
	return 0;
}

int
qb_imsg_get_str(struct imsg *imsg, char *dst, size_t dstlen)
{
	size_t len;
	const char *data;

	if (dstlen == 0) {
		errno = EINVAL;
		return -1;
	}
	dst[0] = '\0';
	len = imsg_get_len(imsg);
	if (len == 0) {
		errno = EBADMSG;
		return -1;
	}
	data = ibuf_data(imsg->buf);
	/* Exactly one NUL, the last byte: no hidden second string after it. */
	if (memchr(data, '\0', len) != data + len - 1) {
		errno = EBADMSG;
		return -1;
	}
	if (len > dstlen) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(dst, data, len);
	return 0;
}

ssize_t
qb_imsg_check_strfield(const char *field, size_t fieldlen)
{
	const char *nul;

	if ((nul = memchr(field, '\0', fieldlen)) == NULL) {
		errno = EBADMSG;
		return -1;
	}
	return nul - field;
}

int
qb_imsg_take_fd(struct imsg *imsg)
{
	int fd;

	if ((fd = imsg_get_fd(imsg)) == -1) {
		errno = EBADMSG;
		return -1;
	}
	return fd;
}

int
qb_imsg_compose_str(struct imsgbuf *imsgbuf, uint32_t type, uint32_t id, int fd,
    const char *str)
{
	return imsg_compose(imsgbuf, type, id, 0, fd, str, strlen(str) + 1);
}

int
qb_imsg_error_read(struct imsg *imsg, struct qb_imsg_error *e)
{
	if (imsg_get_type(imsg) != IMSG_ERROR || imsg->fd != -1 ||
	    qb_imsg_get_struct(imsg, e, sizeof(*e)) == -1 ||
	    qb_imsg_check_strfield(e->msg, sizeof(e->msg)) == -1) {
		memset(e, 0, sizeof(*e));
		errno = EBADMSG;
		return -1;
	}
	if (e->code <= QB_E_OK || e->code > QB_E_UNAVAILABLE)
		e->code = QB_E_UNKNOWN;
	return 0;
}

int
qb_tmpl_file_id(int fd, struct qb_tmpl_file_id *id)
{
	struct stat st;

	if (fstat(fd, &st) == -1)
		return -1;
	memset(id, 0, sizeof(*id));
	id->dev = (uint64_t)st.st_dev;
	id->ino = (uint64_t)st.st_ino;
	id->size = (int64_t)st.st_size;
	id->mtime_sec = (int64_t)st.st_mtim.tv_sec;
	id->mtime_nsec = (int64_t)st.st_mtim.tv_nsec;
	return 0;
}
