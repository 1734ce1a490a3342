/*
 * A hostile guest, for tests/integration/35-hostile-guest.sh only: PID 1 of a
 * test initrd (the real one with this program appended as /init), so the
 * kernel, the modules and the virtio-serial port are the real ones
 * (pid1_setup()), but instead of serving the guest API it attacks the host
 * over the channel, as a guest whose kernel a container owns could.
 *
 * The mode is the first word of /hostile.mode (appended to the initrd with
 * this program); an optional second word is the flood duration in seconds:
 *
 *   mute         never sends Ready and never answers
 *   silent       sends Ready, then reads everything and never answers
 *   hugelen      Ready, then answers the first request with a Response
 *                header claiming ~4 GiB, followed by zeros
 *   garbage      pseudo-random bytes from the start, no Ready
 *   wrong-sid    answers ConfigureNetwork, then answers Create on the stream
 *                id of that finished call
 *   flood-event  serves up to Start, then floods valid-looking events (OOM
 *                for the container, Exit for ids that do not exist) for N s,
 *                then reports a real exit with status 7 and serves Delete
 *                and Shutdown
 *   flood-data   serves up to Start, then floods stdout DATA ignoring the
 *                host's credit
 *   forge-exit   serves, but sends Exit events for ids and exec ids that do
 *                not exist (before and after Start); a Kill ends the
 *                container with 128 + signal, then Delete and Shutdown
 *   stuck        serves up to Start, then never answers again (Kill
 *                included)
 *
 * Only the serving modes power off, and only when the host asks (Shutdown);
 * otherwise the host has to kill the VM. A closed channel is ignored too:
 * the host must not rely on the guest to go away.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "guest/pid1.h"
#include "lib/chan.h"
#include "lib/chan_rpc.h"
#include "lib/error.h"
#include "lib/log.h"
#include "proto/guest.pb-c.h"

#define MODE_FILE        "/hostile.mode"
#define FAKE_PID         4242
#define FLOOD_SECS_DEF   15
#define EXIT_AFTER_FLOOD 7

enum mode {
	M_MUTE,
	M_SILENT,
	M_HUGELEN,
	M_GARBAGE,
	M_WRONG_SID,
	M_FLOOD_EVENT,
	M_FLOOD_DATA,
	M_FORGE_EXIT,
	M_STUCK,
};

static const char *const mode_names[] = {
    [M_MUTE] = "mute",
    [M_SILENT] = "silent",
    [M_HUGELEN] = "hugelen",
    [M_GARBAGE] = "garbage",
    [M_WRONG_SID] = "wrong-sid",
    [M_FLOOD_EVENT] = "flood-event",
    [M_FLOOD_DATA] = "flood-data",
    [M_FORGE_EXIT] = "forge-exit",
    [M_STUCK] = "stuck",
};

struct hostile {
	enum mode mode;
	unsigned flood_secs;
	int fd;
	struct chan *ch; /* writes only: blocking fd, so every send completes */
	bool answered_first;
	uint32_t last_sid; /* last request answered */
	char id[129];
	uint32_t out_sid, err_sid;
	bool started;
	bool exited;
	uint32_t exit_status;
	bool shutdown;
	int64_t flood_end_ms;
	unsigned long long flood_frames, flood_bytes;
};

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
write_all(int fd, const void *p, size_t n)
{
	const uint8_t *b = p;
	ssize_t w;

	while (n > 0) {
		if ((w = write(fd, b, n)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

static void
read_mode(struct hostile *h)
{
	char buf[64], name[32];
	unsigned secs = FLOOD_SECS_DEF;
	ssize_t n;
	size_t i;
	int fd;

	h->mode = M_SILENT;
	h->flood_secs = FLOOD_SECS_DEF;
	if ((fd = open(MODE_FILE, O_RDONLY | O_CLOEXEC)) == -1) {
		log_warn("%s: %s (default: silent)", __func__, MODE_FILE);
		return;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = '\0';
	if (sscanf(buf, "%31s %u", name, &secs) < 1)
		return;
	for (i = 0; i < sizeof(mode_names) / sizeof(mode_names[0]); i++)
		if (strcmp(name, mode_names[i]) == 0)
			h->mode = (enum mode)i;
	if (secs > 0 && secs <= 600)
		h->flood_secs = secs;
}

static void
send_event(struct hostile *h, Qemubox__Guest__V1__Event *ev)
{
	uint8_t buf[512];
	size_t n;

	if (protobuf_c_message_get_packed_size(&ev->base) > sizeof(buf))
		return;
	n = qemubox__guest__v1__event__pack(ev, buf);
	(void)chan_send_frame(h->ch, CHAN_T_EVENT, 0, 0, buf, n);
}

static void
send_ready(struct hostile *h)
{
	Qemubox__Guest__V1__Event ev;
	Qemubox__Guest__V1__ReadyEvent r;

	qemubox__guest__v1__event__init(&ev);
	qemubox__guest__v1__ready_event__init(&r);
	r.version = (char *)(uintptr_t) "hostile";
	ev.kind_case = QEMUBOX__GUEST__V1__EVENT__KIND_READY;
	ev.ready = &r;
	send_event(h, &ev);
}

static void
send_exit(struct hostile *h, const char *id, const char *exec_id, uint32_t pid,
    uint32_t status)
{
	Qemubox__Guest__V1__Event ev;
	Qemubox__Guest__V1__ExitEvent x;

	qemubox__guest__v1__event__init(&ev);
	qemubox__guest__v1__exit_event__init(&x);
	x.id = (char *)(uintptr_t)id;
	x.exec_id = (char *)(uintptr_t)exec_id;
	x.pid = pid;
	x.exit_status = status;
	ev.kind_case = QEMUBOX__GUEST__V1__EVENT__KIND_EXIT;
	ev.exit = &x;
	send_event(h, &ev);
}

static void
send_oom(struct hostile *h, const char *id)
{
	Qemubox__Guest__V1__Event ev;
	Qemubox__Guest__V1__OomEvent o;

	qemubox__guest__v1__event__init(&ev);
	qemubox__guest__v1__oom_event__init(&o);
	o.id = (char *)(uintptr_t)id;
	ev.kind_case = QEMUBOX__GUEST__V1__EVENT__KIND_OOM;
	ev.oom = &o;
	send_event(h, &ev);
}

/* Exit events a host must ignore: nothing by these names exists. */
static void
send_forged_exits(struct hostile *h, unsigned n)
{
	char other[64];

	snprintf(other, sizeof(other), "forged-%u", n);
	send_exit(h, other, "", FAKE_PID + 1, 0);
	send_exit(h, h->id, "no-such-exec", FAKE_PID + 2, 1);
	send_exit(h, "", "", 1, 2);
}

/* The real end of the container: output closed first, as the protocol says. */
static void
container_exit(struct hostile *h, uint32_t status)
{
	if (h->exited)
		return;
	h->exited = true;
	h->exit_status = status;
	if (h->out_sid != 0)
		(void)chan_send_frame(
		    h->ch, CHAN_T_CLOSE, 0, h->out_sid, NULL, 0);
	if (h->err_sid != 0)
		(void)chan_send_frame(
		    h->ch, CHAN_T_CLOSE, 0, h->err_sid, NULL, 0);
	send_exit(h, h->id, "", FAKE_PID, status);
}

static void
answer(struct hostile *h, uint32_t sid, int code, const char *msg,
    const ProtobufCMessage *resp)
{
	uint8_t buf[256] = {0};
	size_t n = 0;

	if (resp != NULL &&
	    protobuf_c_message_get_packed_size(resp) <= sizeof(buf))
		n = protobuf_c_message_pack(resp, buf);
	(void)chan_rpc_send_response(h->ch, sid, code, msg, buf, n);
	h->last_sid = sid;
}

static bool
method_is(const struct chan_rpc_req *r, const char *m)
{
	return r->method_len == strlen(m) &&
	       memcmp(r->method, m, r->method_len) == 0;
}

/* Just enough of the guest API for the host to get a container running. */
static void
serve(struct hostile *h, uint32_t sid, const struct chan_rpc_req *r)
{
	if (method_is(r, "ConfigureNetwork") || method_is(r, "Ping")) {
		answer(h, sid, 0, NULL, NULL);
	} else if (method_is(r, "Create")) {
		Qemubox__Guest__V1__CreateRequest *cr;
		Qemubox__Guest__V1__CreateResponse resp;

		cr = qemubox__guest__v1__create_request__unpack(
		    NULL, r->payload_len, r->payload);
		if (cr == NULL || cr->id == NULL) {
			answer(h, sid, QB_E_INVALID, "bad CreateRequest", NULL);
			goto create_out;
		}
		snprintf(h->id, sizeof(h->id), "%s", cr->id);
		if (cr->stdio != NULL) {
			h->out_sid = cr->stdio->stdout;
			h->err_sid = cr->stdio->stderr;
		}
		qemubox__guest__v1__create_response__init(&resp);
		resp.pid = FAKE_PID;
		answer(h, sid, 0, NULL, &resp.base);
		if (h->mode == M_FORGE_EXIT)
			send_forged_exits(h, 0);
	create_out:
		if (cr != NULL)
			qemubox__guest__v1__create_request__free_unpacked(
			    cr, NULL);
	} else if (method_is(r, "Start")) {
		Qemubox__Guest__V1__StartResponse resp;

		qemubox__guest__v1__start_response__init(&resp);
		resp.pid = FAKE_PID;
		answer(h, sid, 0, NULL, &resp.base);
		h->started = true;
		h->flood_end_ms = now_ms() + 1000ll * h->flood_secs;
		if (h->mode == M_FORGE_EXIT)
			send_forged_exits(h, 1);
	} else if (method_is(r, "Kill")) {
		Qemubox__Guest__V1__KillRequest *kr;
		uint32_t sig = 9;

		kr = qemubox__guest__v1__kill_request__unpack(
		    NULL, r->payload_len, r->payload);
		if (kr != NULL) {
			sig = kr->signal;
			qemubox__guest__v1__kill_request__free_unpacked(
			    kr, NULL);
		}
		if (h->exited) {
			answer(h, sid, QB_E_NOTFOUND,
			    "process already finished", NULL);
			return;
		}
		answer(h, sid, 0, NULL, NULL);
		container_exit(h, 128 + (sig & 0x7f));
	} else if (method_is(r, "Delete")) {
		Qemubox__Guest__V1__DeleteResponse resp;

		qemubox__guest__v1__delete_response__init(&resp);
		resp.pid = FAKE_PID;
		resp.exit_status = h->exit_status;
		answer(h, sid, 0, NULL, &resp.base);
	} else if (method_is(r, "Shutdown")) {
		answer(h, sid, 0, NULL, NULL);
		h->shutdown = true;
	} else {
		answer(h, sid, QB_E_UNIMPLEMENTED, "not in the hostile guest",
		    NULL);
	}
}

static void
on_request(struct chan *ch, uint32_t sid, const uint8_t *p, size_t n, void *arg)
{
	struct hostile *h = arg;
	struct chan_rpc_req r;
	uint8_t hdr[CHAN_HDR_LEN], zeros[4096];
	int i;

	(void)ch;
	if (chan_rpc_req_decode(p, n, &r) == -1) {
		log_warnx("%s: undecodable request %u", __func__, sid);
		return;
	}
	log_info(
	    "%s: %.*s (stream %u)", __func__, (int)r.method_len, r.method, sid);
	switch (h->mode) {
	case M_MUTE:
	case M_SILENT:
	case M_GARBAGE:
		return;
	case M_HUGELEN:
		if (h->answered_first)
			return;
		h->answered_first = true;
		chan_hdr_encode(hdr, 0xfffffff0u, sid, CHAN_T_RESPONSE, 0);
		(void)write_all(h->fd, hdr, sizeof(hdr));
		memset(zeros, 0, sizeof(zeros));
		for (i = 0; i < 64; i++)
			if (write_all(h->fd, zeros, sizeof(zeros)) == -1)
				break;
		log_info("%s: sent a 4 GiB response header", __func__);
		return;
	case M_WRONG_SID:
		if (!h->answered_first) {
			h->answered_first = true;
			answer(h, sid, 0, NULL, NULL);
			return;
		}
		/* Well formed, but on the id of the call already answered. */
		log_info("%s: answering stream %u on stream %u", __func__, sid,
		    h->last_sid);
		answer(h, h->last_sid, 0, NULL, NULL);
		return;
	case M_STUCK:
		if (h->started)
			return;
		serve(h, sid, &r);
		return;
	case M_FLOOD_EVENT:
	case M_FLOOD_DATA:
	case M_FORGE_EXIT:
		serve(h, sid, &r);
		return;
	}
}

static const struct chan_ops hostile_chan_ops = {
    .on_request = on_request,
};

/*
 * Read what the host sent and dispatch it. wait: block until something
 * comes. A closed or broken channel is not a reason to stop: a hostile guest
 * stays until it is killed.
 */
static void
pump_input(struct hostile *h, int wait_ms)
{
	struct pollfd pfd = {.fd = h->fd, .events = POLLIN};
	uint8_t buf[65536];
	ssize_t n;

	if (poll(&pfd, 1, wait_ms) <= 0 || !(pfd.revents & (POLLIN | POLLHUP)))
		return;
	n = read(h->fd, buf, sizeof(buf));
	if (n <= 0) {
		/* EOF/HUP until the host is gone: do not spin. */
		usleep(100 * 1000);
		return;
	}
	if (chan_input(h->ch, buf, (size_t)n) == -1) {
		log_warnx("%s: host input rejected; ignoring it", __func__);
		chan_free(h->ch);
		h->ch = chan_new(h->fd, CHAN_GUEST, &hostile_chan_ops, h);
		if (h->ch == NULL)
			pid1_poweroff();
	}
}

static void
garbage(struct hostile *h)
{
	uint64_t x = 0x9e3779b97f4a7c15ull;
	uint8_t buf[4096];
	size_t i;
	int round;

	/* Start with a header of an unknown type so the first look fails. */
	memset(buf, 0, CHAN_HDR_LEN);
	buf[3] = 16;
	buf[8] = 0x7f;
	(void)write_all(h->fd, buf, CHAN_HDR_LEN);
	for (round = 0; round < 256; round++) {
		for (i = 0; i < sizeof(buf); i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			buf[i] = (uint8_t)x;
		}
		if (write_all(h->fd, buf, sizeof(buf)) == -1)
			break;
	}
	log_info("%s: 1 MiB of garbage sent", __func__);
}

/* One step of a flood: a frame the host has to look at. */
static void
flood_step(struct hostile *h)
{
	static uint8_t data[CHAN_MAX_DATA];
	unsigned k = (unsigned)(h->flood_frames % 3);

	if (h->mode == M_FLOOD_DATA) {
		if (h->out_sid == 0)
			return;
		memset(data, 'x', sizeof(data));
		if (chan_send_frame(h->ch, CHAN_T_DATA, 0, h->out_sid, data,
		        sizeof(data)) == -1)
			return;
		h->flood_bytes += sizeof(data);
	} else if (k == 0) {
		send_oom(h, h->id);
	} else if (k == 1) {
		char other[32];

		snprintf(other, sizeof(other), "forged-%llu", h->flood_frames);
		send_exit(h, other, "", FAKE_PID + 3, 1);
	} else {
		send_exit(h, h->id, "ghost", FAKE_PID + 4, 1);
	}
	h->flood_frames++;
}

static void
run(struct hostile *h)
{
	int64_t t0 = 0;
	bool flooding = false;

	if (h->mode == M_GARBAGE)
		garbage(h);
	else if (h->mode != M_MUTE)
		send_ready(h);
	for (;;) {
		if (h->shutdown) {
			log_info("%s: Shutdown asked: powering off", __func__);
			pid1_poweroff();
		}
		if ((h->mode == M_FLOOD_EVENT || h->mode == M_FLOOD_DATA) &&
		    h->started && !h->exited) {
			if (!flooding) {
				flooding = true;
				t0 = now_ms();
				log_info("%s: flooding for %u s", __func__,
				    h->flood_secs);
			}
			pump_input(h, 0);
			flood_step(h);
			if (now_ms() < h->flood_end_ms)
				continue;
			log_info("%s: flood done: %llu frames, %llu data bytes "
			         "in %lld ms",
			    __func__, h->flood_frames, h->flood_bytes,
			    (long long)(now_ms() - t0));
			container_exit(h, EXIT_AFTER_FLOOD);
			continue;
		}
		pump_input(h, 1000);
	}
}

static void
exit_poweroff(void)
{
	if (getpid() == 1)
		pid1_poweroff();
}

int
main(void)
{
	struct pid1_info info;
	struct hostile h;

	log_init("hostile-init", 0);
	if (getpid() != 1) {
		log_warnx("main: runs only as PID 1 of a test VM");
		return 2;
	}
	atexit(exit_poweroff);
	if (pid1_setup(&info, NULL) == -1 ||
	    info.transport != PID1_TRANSPORT_VIRTIO_SERIAL) {
		log_warnx("main: set-up failed or not virtio-serial");
		pid1_poweroff();
	}
	signal(SIGPIPE, SIG_IGN);
	memset(&h, 0, sizeof(h));
	read_mode(&h);
	h.fd = info.chan_fd;
	if (fcntl(h.fd, F_SETFL, fcntl(h.fd, F_GETFL) & ~O_NONBLOCK) == -1 ||
	    (h.ch = chan_new(h.fd, CHAN_GUEST, &hostile_chan_ops, &h)) == NULL)
		pid1_poweroff();
	log_info("main: hostile guest, mode %s, flood %u s", mode_names[h.mode],
	    h.flood_secs);
	run(&h);
	pid1_poweroff();
}
