#include "shim/stdio_relay.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/chan_pump.h"
#include "lib/log.h"
#include "shim/guest_client.h"

struct stdio_relay {
	struct chan_pump *in, *out, *err;
	uint32_t in_id, out_id, err_id;
};

static void
pump_done(struct chan_pump *p, void *arg)
{
	(void)p;
	(void)arg;
}

/*
 * An output FIFO: containerd's reader opened it first, so O_WRONLY does not
 * block; if it did not (ENXIO), keep it open read-write so output waits in
 * the pipe instead of failing.
 */
static int
open_output(const char *path, struct qb_error *err)
{
	int fd;

	if (strncmp(path, "file://", 7) == 0) {
		fd = open(
		    path + 7, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	} else if (strstr(path, "://") != NULL) {
		qb_seterr(err, QB_E_UNIMPLEMENTED,
		    "stdio URI %s: only FIFOs "
		    "and file:// are supported",
		    path);
		return -1;
	} else {
		fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
		if (fd == -1 && errno == ENXIO)
			fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	}
	if (fd == -1)
		qb_seterr(
		    err, QB_E_INTERNAL, "open %s: %s", path, strerror(errno));
	return fd;
}

struct stdio_relay *
stdio_relay_new(struct evloop *loop, struct guest_client *gc, const char *in,
    const char *out, const char *err_path, bool terminal, struct qb_error *err)
{
	struct stdio_relay *r;
	struct chan *ch = guest_client_chan(gc);
	int fd, wfd;

	if ((r = calloc(1, sizeof(*r))) == NULL) {
		qb_seterr(err, QB_E_INTERNAL, "out of memory");
		return NULL;
	}
	if (in != NULL && in[0] != '\0') {
		if (strstr(in, "://") != NULL) {
			qb_seterr(err, QB_E_UNIMPLEMENTED,
			    "stdin URI %s is not "
			    "supported",
			    in);
			goto fail;
		}
		/*
		 * Read end non-blocking; the pump ignores EOF because a FIFO
		 * reads 0 whenever no writer is attached, which is not the
		 * end of stdin (CloseIO is).
		 */
		if ((fd = open(in, O_RDONLY | O_NONBLOCK | O_CLOEXEC)) == -1) {
			qb_seterr(err, QB_E_INTERNAL, "open %s: %s", in,
			    strerror(errno));
			goto fail;
		}
		/* Our own writer turns "no writer yet" into EAGAIN rather
		 * than EOFs that would spin the loop; the pump drops it once
		 * containerd's writer has sent something, so its close is
		 * the end of stdin even when no CloseIO follows (ctr sends
		 * none when its stdin ends before Create returns). */
		wfd = open(in, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
		r->in_id = guest_stream_id(gc);
		r->in = chan_pump_from_fd(
		    loop, ch, r->in_id, fd, true, pump_done, r);
		if (r->in == NULL) {
			if (wfd != -1)
				close(wfd);
			qb_seterr(err, QB_E_INTERNAL, "stdin stream: %s",
			    strerror(errno));
			goto fail;
		}
		if (wfd != -1)
			chan_pump_hold_writer(r->in, wfd);
	}
	if (out != NULL && out[0] != '\0') {
		if ((fd = open_output(out, err)) == -1)
			goto fail;
		r->out_id = guest_stream_id(gc);
		r->out = chan_pump_to_fd(loop, ch, r->out_id, fd, pump_done, r);
		if (r->out == NULL) {
			qb_seterr(err, QB_E_INTERNAL, "stdout stream: %s",
			    strerror(errno));
			goto fail;
		}
	}
	/* With a terminal the pty carries both outputs on stdout. */
	if (!terminal && err_path != NULL && err_path[0] != '\0') {
		if ((fd = open_output(err_path, err)) == -1)
			goto fail;
		r->err_id = guest_stream_id(gc);
		r->err = chan_pump_to_fd(loop, ch, r->err_id, fd, pump_done, r);
		if (r->err == NULL) {
			qb_seterr(err, QB_E_INTERNAL, "stderr stream: %s",
			    strerror(errno));
			goto fail;
		}
	}
	return r;
fail:
	stdio_relay_free(r);
	return NULL;
}

void
stdio_relay_ids(
    const struct stdio_relay *r, uint32_t *in, uint32_t *out, uint32_t *err)
{
	*in = r->in_id;
	*out = r->out_id;
	*err = r->err_id;
}

void
stdio_relay_close_stdin(struct stdio_relay *r)
{
	if (r->in != NULL)
		chan_pump_finish_when_empty(r->in);
}

void
stdio_relay_finish(struct stdio_relay *r)
{
	/* Nobody reads stdin of a dead process. */
	if (r->in != NULL) {
		chan_pump_free(r->in);
		r->in = NULL;
	}
}

void
stdio_relay_free(struct stdio_relay *r)
{
	if (r == NULL)
		return;
	chan_pump_free(r->in);
	chan_pump_free(r->out);
	chan_pump_free(r->err);
	free(r);
}
