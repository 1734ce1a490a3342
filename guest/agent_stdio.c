/*
 * A process's stdio (guest/agent_int.h): pipes or the pty crun hands over,
 * pumped as channel streams (lib/chan_pump.h), and ResizePty.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "guest/agent_int.h"
#include "guest/crun.h"

/* Streams the host names must be free on the channel and distinct. */
int
check_stdio(
    struct agent *a, const Qemubox__Guest__V1__Stdio *io, struct qb_error *err)
{
	uint32_t ids[3];
	int i, j;

	if (io == NULL)
		return 0;
	ids[0] = io->stdin;
	ids[1] = io->stdout;
	ids[2] = io->stderr;
	if (io->terminal && io->stderr != 0)
		return qb_seterr(
		    err, QB_E_INVALID, "terminal: stderr travels on stdout");
	for (i = 0; i < 3; i++) {
		if (ids[i] == 0)
			continue;
		if (chan_stream_find(a->ch, ids[i]) != NULL)
			return qb_seterr(
			    err, QB_E_EXISTS, "stream %u in use", ids[i]);
		for (j = 0; j < i; j++)
			if (ids[j] == ids[i])
				return qb_seterr(err, QB_E_INVALID,
				    "stream %u named twice", ids[i]);
	}
	return 0;
}

/*
 * Pipes for a process about to be started: child ends in child[] (-1 for
 * /dev/null), ours in ours[]. Ours are close-on-exec so crun and the
 * container never hold them: EOF then means the container's side closed.
 */
int
stdio_pipes(const struct proc *p, int child[3], int ours[3])
{
	int i, fds[2];

	for (i = 0; i < 3; i++)
		child[i] = ours[i] = -1;
	for (i = 0; i < 3; i++) {
		if (p->sid[i] == 0)
			continue;
		if (pipe2(fds, O_CLOEXEC) == -1)
			goto fail;
		/* stdin: the child reads fds[0]; outputs: the child writes
		 * fds[1]. */
		child[i] = i == 0 ? fds[0] : fds[1];
		ours[i] = i == 0 ? fds[1] : fds[0];
	}
	return 0;
fail:
	for (i = 0; i < 3; i++) {
		if (child[i] >= 0)
			close(child[i]);
		if (ours[i] >= 0)
			close(ours[i]);
	}
	return -1;
}

/*
 * After crun (--console-socket) returned: the pty master carries the
 * terminal's output (stdout stream) and input (stdin stream).
 */
int
tty_fds(struct proc *p, int lfd, int ours[3])
{
	int m;

	if ((m = crun_console_recv(lfd)) == -1)
		return -1;
	p->pty = dup(m);
	ours[0] = p->sid[0] != 0 ? dup(m) : -1;
	ours[1] = m;
	ours[2] = -1;
	if (p->pty == -1 || (p->sid[0] != 0 && ours[0] == -1))
		return -1;
	return 0;
}

void
close_fds(int fds[3])
{
	int i;

	for (i = 0; i < 3; i++) {
		if (fds[i] >= 0)
			close(fds[i]);
		fds[i] = -1;
	}
}

static void
pump_eof(struct chan_pump *pump, void *arg)
{
	struct proc *p = arg;

	(void)pump;
	maybe_report(p->c->a, p);
}

int
attach_pumps(struct agent *a, struct proc *p, int ours[3], struct qb_error *err)
{
	if (ours[0] >= 0) {
		p->in = chan_pump_to_fd(
		    a->loop, a->ch, p->sid[0], ours[0], NULL, NULL);
		ours[0] = -1;
		if (p->in == NULL)
			goto fail;
	}
	if (ours[1] >= 0) {
		p->out = chan_pump_from_fd(
		    a->loop, a->ch, p->sid[1], ours[1], false, pump_eof, p);
		ours[1] = -1;
		if (p->out == NULL)
			goto fail;
	}
	if (ours[2] >= 0) {
		p->err = chan_pump_from_fd(
		    a->loop, a->ch, p->sid[2], ours[2], false, pump_eof, p);
		ours[2] = -1;
		if (p->err == NULL)
			goto fail;
	}
	return 0;
fail:
	close_fds(ours);
	return qb_seterr(
	    err, QB_E_INTERNAL, "stdio streams: %s", strerror(errno));
}

int
h_resize_pty(struct agent *a, const uint8_t *b, size_t n,
    ProtobufCMessage **out, struct qb_error *err)
{
	Qemubox__Guest__V1__ResizePtyRequest *req;
	struct ctr *c;
	struct proc *p;
	struct winsize ws;
	int rc = -1;

	(void)out;
	if ((req = qemubox__guest__v1__resize_pty_request__unpack(
	         NULL, n, b)) == NULL)
		return qb_seterr(err, QB_E_INVALID, "bad ResizePtyRequest");
	if (lookup(a, req->id, req->exec_id, &c, &p, err) == -1)
		goto out;
	if (p->pty < 0) {
		qb_seterr(err, QB_E_PRECONDITION, "process has no terminal");
		goto out;
	}
	memset(&ws, 0, sizeof(ws));
	ws.ws_col = (unsigned short)(req->width > 65535 ? 65535 : req->width);
	ws.ws_row = (unsigned short)(req->height > 65535 ? 65535 : req->height);
	if (ioctl(p->pty, TIOCSWINSZ, &ws) == -1) {
		qb_seterr(err, QB_E_INTERNAL, "resize: %s", strerror(errno));
		goto out;
	}
	rc = 0;
out:
	qemubox__guest__v1__resize_pty_request__free_unpacked(req, NULL);
	return rc;
}
