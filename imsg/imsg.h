/*
 * imsg: framed messages with optional fd passing over a unix socket.
 *
 * Our own implementation of the OpenBSD 7.5 imsg API and wire format
 * (shared/specs/WIRE.md section 5): a 16-byte header in host byte order
 * (type u32, len u16 = header + data, flags u16 with IMSGF_HASFD, peerid u32,
 * pid u32), at most MAX_IMSGSIZE bytes per message, at most one fd per
 * message passed by SCM_RIGHTS and paired with messages in FIFO order.
 *
 * Ownership of fds (the trap everyone falls into once):
 *  - imsg_compose()/ibuf_fd_set() take the fd; the library closes it after it
 *    is sent or when the queue is cleared.
 *  - A received fd belongs to the caller once imsg_get_fd() returned it;
 *    imsg_free() does NOT close an fd nobody took (7.5 semantics), so take
 *    it or close it.
 *
 * The qb_imsg_* functions at the end are qemubox additions: typed readers
 * that validate a payload once, at the boundary.
 */
#ifndef QEMUBOX_IMSG_IMSG_H
#define QEMUBOX_IMSG_IMSG_H

#include <sys/queue.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <stddef.h>
#include <stdint.h>

#define IBUF_READ_SIZE   65535
#define IMSG_HEADER_SIZE sizeof(struct imsg_hdr)
#define MAX_IMSGSIZE     16384

#define IMSGF_HASFD 1

struct ibuf {
	TAILQ_ENTRY(ibuf) entry;
	unsigned char *buf;
	size_t size;
	size_t max; /* 0 = a view or a stack buffer: never freed */
	size_t wpos;
	size_t rpos;
	int fd;
};

struct msgbuf {
	TAILQ_HEAD(, ibuf) bufs;
	uint32_t queued;
	int fd;
};

struct ibuf_read {
	unsigned char buf[IBUF_READ_SIZE];
	unsigned char *rptr;
	size_t wpos;
};

struct imsg_fd;

struct imsgbuf {
	TAILQ_HEAD(, imsg_fd) fds;
	struct ibuf_read r;
	struct msgbuf w;
	int fd;
	pid_t pid;
};

struct imsg_hdr {
	uint32_t type;
	uint16_t len;
	uint16_t flags;
	uint32_t peerid;
	uint32_t pid;
};

struct imsg {
	struct imsg_hdr hdr;
	int fd;
	void *data;
	struct ibuf *buf;
};

/* Raised by applications that keep fds open between reads (see WIRE 5.2). */
extern int imsg_fd_overhead;

/* imsg-buffer.c */
struct ibuf *ibuf_open(size_t len);
struct ibuf *ibuf_dynamic(size_t len, size_t max);
void *ibuf_reserve(struct ibuf *buf, size_t len);
int ibuf_add(struct ibuf *buf, const void *data, size_t len);
int ibuf_add_ibuf(struct ibuf *buf, const struct ibuf *from);
int ibuf_add_zero(struct ibuf *buf, size_t len);
int ibuf_add_n8(struct ibuf *buf, uint64_t value);
int ibuf_add_n16(struct ibuf *buf, uint64_t value);
int ibuf_add_n32(struct ibuf *buf, uint64_t value);
int ibuf_add_n64(struct ibuf *buf, uint64_t value);
int ibuf_add_h16(struct ibuf *buf, uint64_t value);
int ibuf_add_h32(struct ibuf *buf, uint64_t value);
int ibuf_add_h64(struct ibuf *buf, uint64_t value);
void *ibuf_seek(struct ibuf *buf, size_t pos, size_t len);
int ibuf_set(struct ibuf *buf, size_t pos, const void *data, size_t len);
int ibuf_set_n8(struct ibuf *buf, size_t pos, uint64_t value);
int ibuf_set_n16(struct ibuf *buf, size_t pos, uint64_t value);
int ibuf_set_n32(struct ibuf *buf, size_t pos, uint64_t value);
int ibuf_set_n64(struct ibuf *buf, size_t pos, uint64_t value);
int ibuf_set_h16(struct ibuf *buf, size_t pos, uint64_t value);
int ibuf_set_h32(struct ibuf *buf, size_t pos, uint64_t value);
int ibuf_set_h64(struct ibuf *buf, size_t pos, uint64_t value);
void *ibuf_data(const struct ibuf *buf);
size_t ibuf_size(const struct ibuf *buf);
size_t ibuf_left(const struct ibuf *buf);
int ibuf_truncate(struct ibuf *buf, size_t len);
void ibuf_rewind(struct ibuf *buf);
void ibuf_close(struct msgbuf *msgbuf, struct ibuf *buf);
void ibuf_from_buffer(struct ibuf *buf, void *data, size_t len);
void ibuf_from_ibuf(struct ibuf *buf, const struct ibuf *from);
int ibuf_get(struct ibuf *buf, void *data, size_t len);
int ibuf_get_ibuf(struct ibuf *buf, size_t len, struct ibuf *view);
int ibuf_get_n8(struct ibuf *buf, uint8_t *value);
int ibuf_get_n16(struct ibuf *buf, uint16_t *value);
int ibuf_get_n32(struct ibuf *buf, uint32_t *value);
int ibuf_get_n64(struct ibuf *buf, uint64_t *value);
int ibuf_get_h16(struct ibuf *buf, uint16_t *value);
int ibuf_get_h32(struct ibuf *buf, uint32_t *value);
int ibuf_get_h64(struct ibuf *buf, uint64_t *value);
int ibuf_skip(struct ibuf *buf, size_t len);
void ibuf_free(struct ibuf *buf);
int ibuf_fd_avail(struct ibuf *buf);
int ibuf_fd_get(struct ibuf *buf);
void ibuf_fd_set(struct ibuf *buf, int fd);
int ibuf_write(struct msgbuf *msgbuf);
void msgbuf_init(struct msgbuf *msgbuf);
void msgbuf_clear(struct msgbuf *msgbuf);
uint32_t msgbuf_queuelen(struct msgbuf *msgbuf);
int msgbuf_write(struct msgbuf *msgbuf);

/* imsg.c */
void imsg_init(struct imsgbuf *imsgbuf, int fd);
ssize_t imsg_read(struct imsgbuf *imsgbuf);
ssize_t imsg_get(struct imsgbuf *imsgbuf, struct imsg *imsg);
int imsg_get_ibuf(struct imsg *imsg, struct ibuf *ibuf);
int imsg_get_data(struct imsg *imsg, void *data, size_t len);
int imsg_get_fd(struct imsg *imsg);
uint32_t imsg_get_id(struct imsg *imsg);
size_t imsg_get_len(struct imsg *imsg);
pid_t imsg_get_pid(struct imsg *imsg);
uint32_t imsg_get_type(struct imsg *imsg);
int imsg_forward(struct imsgbuf *imsgbuf, struct imsg *imsg);
int imsg_compose(struct imsgbuf *imsgbuf, uint32_t type, uint32_t id, pid_t pid,
    int fd, const void *data, size_t datalen);
int imsg_composev(struct imsgbuf *imsgbuf, uint32_t type, uint32_t id,
    pid_t pid, int fd, const struct iovec *iov, int iovcnt);
int imsg_compose_ibuf(struct imsgbuf *imsgbuf, uint32_t type, uint32_t id,
    pid_t pid, struct ibuf *buf);
struct ibuf *imsg_create(struct imsgbuf *imsgbuf, uint32_t type, uint32_t id,
    pid_t pid, size_t datalen);
int imsg_add(struct ibuf *msg, const void *data, size_t datalen);
void imsg_close(struct imsgbuf *imsgbuf, struct ibuf *msg);
void imsg_free(struct imsg *imsg);
int imsg_flush(struct imsgbuf *imsgbuf);
void imsg_clear(struct imsgbuf *imsgbuf);

/*
 * qemubox typed readers (qb_imsg.c). Each returns 0, or -1 with errno set
 * (EBADMSG: payload of the wrong shape) and leaves dst zeroed on failure, so
 * a handler can `if (...) goto bad_msg;` and never act on half-read data.
 */

/* Exact-size struct payload: imsg_get_data() under a name that says so. */
int qb_imsg_get_struct(struct imsg *imsg, void *dst, size_t len);

/*
 * A NUL-terminated string that fills the whole payload: the payload must
 * hold exactly one NUL, as its last byte, and fit dst (ENAMETOOLONG if not).
 */
int qb_imsg_get_str(struct imsg *imsg, char *dst, size_t dstlen);

/*
 * A fixed char array inside an already-read struct: demands a NUL within
 * the array (so a peer cannot make us read past it) and no other bytes after
 * it except NULs. Returns the string length or -1/EBADMSG.
 */
ssize_t qb_imsg_check_strfield(const char *field, size_t fieldlen);

/* A message that must carry an fd: takes it (caller closes), or EBADMSG. */
int qb_imsg_take_fd(struct imsg *imsg);

/* Sends a string including its NUL (the counterpart of qb_imsg_get_str). */
int qb_imsg_compose_str(struct imsgbuf *imsgbuf, uint32_t type, uint32_t id,
    int fd, const char *str);

/*
 * The one decoder of IMSG_ERROR (struct qb_imsg_error, imsg/qemubox_imsg.h;
 * its encoder is qb_imsg_compose_error): exact size, no fd, msg
 * NUL-terminated inside its field, else -1/EBADMSG. A code outside the gRPC
 * codes a helper may send (1..14, lib/error.h) is read as 2 (Unknown).
 */
struct qb_imsg_error;
int qb_imsg_error_read(struct imsg *imsg, struct qb_imsg_error *e);

#endif
