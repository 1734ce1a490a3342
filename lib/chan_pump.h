/*
 * Pumps between a file descriptor and a channel stream, used by both ends:
 * the guest pumps container pipes, the host pumps containerd's FIFOs.
 *
 * from_fd (fd -> SEND stream): reads the fd only while the stream has
 * credit and never more than the credit, so nothing is buffered; with no
 * credit the fd is left unread and its writer blocks once the pipe is full
 * -- backpressure reaches the writing process and stops there. At EOF it
 * queues CLOSE and reports done.
 *
 * to_fd (RECV stream -> fd): holds at most the window the peer may send,
 * writes it to the fd as the fd accepts it and grants that much credit
 * back. After the peer's CLOSE and the last byte written, the fd is closed
 * and the pump reports done. If the fd's reader is gone (EPIPE), data is
 * discarded and credited so the sender never stalls on it.
 */
#ifndef QEMUBOX_CHAN_PUMP_H
#define QEMUBOX_CHAN_PUMP_H

#include <stdbool.h>
#include <stdint.h>

struct chan;
struct evloop;
struct chan_pump;

/* Called once when the pump is done (see above). May free the pump. */
typedef void (*chan_pump_cb)(struct chan_pump *, void *arg);

/*
 * Both take ownership of fd (made non-blocking) and open stream sid on ch.
 * NULL with errno on failure (EEXIST: the stream id is in use; fd is closed
 * then too). from_fd with ignore_eof: a read of 0 does not end the stream
 * (a FIFO we also hold open for writing); chan_pump_finish_when_empty ends it.
 */
struct chan_pump *chan_pump_from_fd(struct evloop *, struct chan *,
    uint32_t sid, int fd, bool ignore_eof, chan_pump_cb done, void *arg);
struct chan_pump *chan_pump_to_fd(struct evloop *, struct chan *, uint32_t sid,
    int fd, chan_pump_cb done, void *arg);
bool chan_pump_done(const struct chan_pump *);
/*
 * from_fd on a FIFO created with ignore_eof: the pump keeps wfd (a write
 * end we opened ourselves, so "no writer yet" reads EAGAIN instead of EOF)
 * until the first byte arrives from the real writer; it then closes wfd and
 * treats the next read of 0 as the end of the input (the writer closed),
 * as containerd's stdin FIFO needs when CloseIO never comes.
 */
void chan_pump_hold_writer(struct chan_pump *, int wfd);
/*
 * from_fd: end the stream at the first moment the fd has nothing to read
 * while the stream has credit (stdin after CloseIO; output of an exited
 * process whose pipe a grandchild may hold open). Data the peer has not
 * made room for yet still goes first. Returns true when done already.
 */
bool chan_pump_finish_when_empty(struct chan_pump *);
/* Stop pumping, close the fd, release the stream. NULL is a no-op. */
void chan_pump_free(struct chan_pump *);

#endif
