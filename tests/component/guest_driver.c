/*
 * Component test driver for the guest API: boots the real kernel + initrd
 * under QEMU (TCG) with the virtio-serial port on one end of a socketpair
 * and an EROFS busybox layer disk, then drives vminitd's agent through
 * shim/guest_client exactly as the shim does. Prints TAP.
 *
 *   guest_driver KERNEL INITRD LAYER.erofs SPEC.json CONSOLE.log
 *
 * SPEC.json is a base OCI config (crun spec); each container gets a copy
 * with its own process.args.
 *
 * Clone mode (31-guest-clone.sh), QB_CLONE_DIR=DIR and QB_CLONE_ROLE:
 *   template  guest RAM is memory-backend-file DIR/mem (share=on); once
 *             ready, QMP saves the device state to DIR/state (migrate with
 *             x-ignore-shared: RAM stays in DIR/mem), then the VM goes on.
 *   clone     RAM is DIR/mem mapped private (share=off), -incoming defer,
 *             migrate-incoming from DIR/state; the host sends SetIdentity
 *             before running anything.
 * Both print "# rng-id: ROLE UUID HEX" (a container's kernel uuid and 16
 * bytes of /dev/urandom) for the script to compare.
 */
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <md5.h>

#include "lib/chan.h"
#include "lib/fdpass.h"
#include "proto/cgroups_v2.pb-c.h"
#include "lib/evloop.h"
#include "lib/log.h"
#include "shim/guest_client.h"

#define MIB       (1024u * 1024u)
#define BIG_BYTES (64u * MIB)

static struct evloop *loop;
static struct guest_client *gc;
static int tapn;
static int failures;
static bool dead;
static uint64_t ready_boot_ms;
static bool ready;
static uint64_t t_qemu_ns;
static const char *base_spec_path;
static int next_uid;           /* next container's process.user.uid, 0 = root */
static uint32_t next_stdin;    /* next container's stdin stream, 0 = none */
static int64_t spec_mem_limit; /* next container's memory limit, 0 = none */
static char oom_id[64];

static void
tap(int ok, const char *fmt, ...)
{
	va_list ap;

	printf("%sok %d - ", ok ? "" : "not ", ++tapn);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	if (!ok)
		failures++;
}

static uint64_t
now_ms(void)
{
	return evloop_now_ns() / 1000000;
}

/* ---- events ---- */

struct exit_rec {
	char id[64], exec_id[64];
	uint32_t status;
};
static struct exit_rec exits[64];
static int nexits;

/* Streams the driver reads: collect, or hash, or hold back credit. */
struct sink {
	struct chan_stream *s;
	char *buf;
	size_t len, cap;
	size_t total;
	bool hash;
	MD5_CTX md5;
	bool hold; /* do not grant: the "host does not read" case */
	size_t held;
	bool closed;
};

static struct sink *watch[8];
static int nwatch;

static void
sink_data(struct chan_stream *s, const uint8_t *p, size_t n, void *arg)
{
	struct sink *k = arg;

	k->total += n;
	if (k->hash)
		MD5Update(&k->md5, p, n);
	else {
		if (k->len + n + 1 > k->cap) {
			k->cap = (k->len + n + 1) * 2;
			k->buf = realloc(k->buf, k->cap);
		}
		memcpy(k->buf + k->len, p, n);
		k->len += n;
		k->buf[k->len] = '\0';
	}
	if (k->hold)
		k->held += n;
	else
		chan_stream_grant(s, n);
}

static void
sink_close(struct chan_stream *s, void *arg)
{
	struct sink *k = arg;

	(void)s;
	k->closed = true;
}

static const struct chan_stream_ops sink_ops = {
    .on_data = sink_data, .on_close = sink_close};

static struct sink *
sink_open(uint32_t *id)
{
	struct sink *k = calloc(1, sizeof(*k));

	*id = guest_stream_id(gc);
	k->s = chan_stream_open(
	    guest_client_chan(gc), *id, CHAN_RECV, &sink_ops, k);
	MD5Init(&k->md5);
	watch[nwatch++ % 8] = k;
	return k;
}

static void
sink_free(struct sink *k)
{
	int i;

	if (k == NULL)
		return;
	for (i = 0; i < 8; i++)
		if (watch[i] == k)
			watch[i] = NULL;
	chan_stream_release(k->s);
	free(k->buf);
	free(k);
}

static void
on_ready(struct guest_client *c, uint64_t boot_ms, void *arg)
{
	(void)c;
	(void)arg;
	ready = true;
	ready_boot_ms = boot_ms;
}

static void
on_exit_ev(struct guest_client *c, const char *id, const char *exec_id,
    uint32_t pid, uint32_t status, void *arg)
{
	struct exit_rec *e = &exits[nexits++ % 64];

	(void)c;
	(void)pid;
	(void)arg;
	snprintf(e->id, sizeof(e->id), "%s", id);
	snprintf(e->exec_id, sizeof(e->exec_id), "%s", exec_id);
	e->status = status;
}

static void
on_oom(struct guest_client *c, const char *id, void *arg)
{
	(void)c;
	(void)arg;
	snprintf(oom_id, sizeof(oom_id), "%s", id);
}

static void
on_dead(struct guest_client *c, const char *why, void *arg)
{
	(void)c;
	(void)arg;
	printf("# guest channel dead: %s\n", why);
	dead = true;
}

static const struct guest_client_ops ops = {
    .on_ready = on_ready,
    .on_exit = on_exit_ev,
    .on_oom = on_oom,
    .on_dead = on_dead,
};

/* ---- synchronous helpers over the async client ---- */

struct result {
	bool done;
	struct qb_error err;
	ProtobufCMessage *resp;
	const ProtobufCMessageDescriptor *desc;
};

static void
call_done(struct guest_client *c, const struct qb_error *err,
    const ProtobufCMessage *resp, void *arg)
{
	struct result *r = arg;
	uint8_t *buf;
	size_t n;

	(void)c;
	r->done = true;
	r->err = *err;
	/* Keep a copy past the callback. */
	if (resp != NULL) {
		n = protobuf_c_message_get_packed_size(resp);
		buf = malloc(n + 1);
		protobuf_c_message_pack(resp, buf);
		r->resp = protobuf_c_message_unpack(r->desc, NULL, n, buf);
		free(buf);
	}
}

static bool
run_until(bool *flag, uint64_t timeout_ms)
{
	uint64_t end = now_ms() + timeout_ms;

	while (!*flag && !dead && now_ms() < end)
		evloop_run_once(loop, 100);
	return *flag;
}

static void
run_for(uint64_t ms)
{
	uint64_t end = now_ms() + ms;

	while (!dead && now_ms() < end)
		evloop_run_once(loop, (int)(end - now_ms()));
}

static int
call(const char *method, const ProtobufCMessage *req,
    const ProtobufCMessageDescriptor *desc, ProtobufCMessage **resp,
    struct qb_error *err)
{
	struct result r = {.desc = desc};

	if (guest_call(gc, method, req, desc, 60000, call_done, &r) == -1) {
		qb_seterr(
		    err, QB_E_UNAVAILABLE, "guest_call: %s", strerror(errno));
		return -1;
	}
	run_until(&r.done, 70000);
	if (!r.done) {
		qb_seterr(err, QB_E_UNAVAILABLE, "no answer");
		return -1;
	}
	*err = r.err;
	if (resp != NULL)
		*resp = r.resp;
	else if (r.resp != NULL)
		protobuf_c_message_free_unpacked(r.resp, NULL);
	return err->code == 0 ? 0 : -1;
}

static struct exit_rec *
wait_exit(const char *id, const char *exec_id, uint64_t timeout_ms)
{
	uint64_t end = now_ms() + timeout_ms;
	int i;

	for (;;) {
		for (i = 0; i < nexits && i < 64; i++)
			if (strcmp(exits[i].id, id) == 0 &&
			    strcmp(exits[i].exec_id, exec_id) == 0)
				return &exits[i];
		if (dead || now_ms() >= end)
			return NULL;
		evloop_run_once(loop, 100);
	}
}

static char *
spec_with_args(const char *const args[], size_t *len)
{
	struct json_object *spec, *proc, *arr;
	const char *s;
	char *out;
	int i;

	if ((spec = json_object_from_file(base_spec_path)) == NULL)
		return NULL;
	json_object_object_get_ex(spec, "process", &proc);
	arr = json_object_new_array();
	for (i = 0; args[i] != NULL; i++)
		json_object_array_add(arr, json_object_new_string(args[i]));
	json_object_object_add(proc, "args", arr);
	json_object_object_add(proc, "terminal", json_object_new_boolean(0));
	if (spec_mem_limit > 0) {
		struct json_object *lx, *res, *mem;

		json_object_object_get_ex(spec, "linux", &lx);
		res = json_object_new_object();
		mem = json_object_new_object();
		json_object_object_add(
		    mem, "limit", json_object_new_int64(spec_mem_limit));
		json_object_object_add(
		    mem, "swap", json_object_new_int64(spec_mem_limit));
		json_object_object_add(res, "memory", mem);
		json_object_object_add(lx, "resources", res);
	}
	if (next_uid > 0) {
		struct json_object *u = json_object_new_object();

		json_object_object_add(u, "uid", json_object_new_int(next_uid));
		json_object_object_add(
		    u, "gid", json_object_new_int(next_uid + 1));
		json_object_object_add(proc, "user", u);
	}
	/* crun spec makes the root read-only; the flow test writes to /tmp. */
	json_object_object_get_ex(spec, "root", &arr);
	json_object_object_add(arr, "readonly", json_object_new_boolean(0));
	s = json_object_to_json_string_ext(spec, JSON_C_TO_STRING_PLAIN);
	out = strdup(s);
	*len = strlen(out);
	json_object_put(spec);
	return out;
}

static int
create(const char *id, const char *const args[], uint32_t out_sid,
    uint32_t err_sid, struct qb_error *err)
{
	Qemubox__Guest__V1__CreateRequest req;
	Qemubox__Guest__V1__Layer layer, *layers[1] = {&layer};
	Qemubox__Guest__V1__Stdio io;
	Qemubox__Guest__V1__File f, *files[1] = {&f};
	size_t n = 0;
	char *spec = spec_with_args(args, &n);
	int rc;

	qemubox__guest__v1__create_request__init(&req);
	qemubox__guest__v1__layer__init(&layer);
	qemubox__guest__v1__stdio__init(&io);
	qemubox__guest__v1__file__init(&f);
	layer.serial = (char *)(uintptr_t) "layer0";
	f.path = (char *)(uintptr_t) "/etc/hostname";
	f.mode = 0644;
	f.data.data = (uint8_t *)(uintptr_t) "qbtest\n";
	f.data.len = 7;
	io.stdin = next_stdin;
	io.stdout = out_sid;
	io.stderr = err_sid;
	req.id = (char *)(uintptr_t)id;
	req.spec.data = (uint8_t *)spec;
	req.spec.len = n;
	req.n_layers = 1;
	req.layers = layers;
	req.n_files = 1;
	req.files = files;
	req.stdio = &io;
	req.tmpfs_size_mb = 256;
	rc = call("Create", &req.base,
	    &qemubox__guest__v1__create_response__descriptor, NULL, err);
	free(spec);
	return rc;
}

static int
start(const char *id, const char *exec_id, struct qb_error *err)
{
	Qemubox__Guest__V1__StartRequest req;

	qemubox__guest__v1__start_request__init(&req);
	req.id = (char *)(uintptr_t)id;
	req.exec_id = (char *)(uintptr_t)exec_id;
	return call("Start", &req.base,
	    &qemubox__guest__v1__start_response__descriptor, NULL, err);
}

static int
delete_(const char *id, const char *exec_id, struct qb_error *err)
{
	Qemubox__Guest__V1__DeleteRequest req;

	qemubox__guest__v1__delete_request__init(&req);
	req.id = (char *)(uintptr_t)id;
	req.exec_id = (char *)(uintptr_t)exec_id;
	return call("Delete", &req.base,
	    &qemubox__guest__v1__delete_response__descriptor, NULL, err);
}

static int
kill_exec(
    const char *id, const char *exec_id, uint32_t sig, struct qb_error *err)
{
	Qemubox__Guest__V1__KillRequest req;

	qemubox__guest__v1__kill_request__init(&req);
	req.id = (char *)(uintptr_t)id;
	req.exec_id = (char *)(uintptr_t)exec_id;
	req.signal = sig;
	return call("Kill", &req.base, NULL, NULL, err);
}

static int
kill_(const char *id, uint32_t sig, struct qb_error *err)
{
	return kill_exec(id, "", sig, err);
}

static int
exec_tty(const char *id, const char *exec_id, const char *argsjson,
    uint32_t out_sid, bool terminal, struct qb_error *err)
{
	Qemubox__Guest__V1__ExecRequest req;
	Qemubox__Guest__V1__Stdio io;
	char proc[1024];

	snprintf(proc, sizeof(proc),
	    "{\"args\":%s,\"cwd\":\"/\",\"env\":[\"PATH=/"
	    "bin\"],\"user\":{\"uid\":0,\"gid\":0}}",
	    argsjson);
	qemubox__guest__v1__exec_request__init(&req);
	qemubox__guest__v1__stdio__init(&io);
	io.stdout = out_sid;
	io.terminal = terminal;
	req.id = (char *)(uintptr_t)id;
	req.exec_id = (char *)(uintptr_t)exec_id;
	req.process.data = (uint8_t *)proc;
	req.process.len = strlen(proc);
	req.stdio = &io;
	if (call("Exec", &req.base, NULL, NULL, err) == -1)
		return -1;
	return start(id, exec_id, err);
}

static int
exec_(const char *id, const char *exec_id, const char *argsjson,
    uint32_t out_sid, struct qb_error *err)
{
	return exec_tty(id, exec_id, argsjson, out_sid, false, err);
}

static int
ping(uint64_t *rtt_ms)
{
	Qemubox__Guest__V1__PingRequest req;
	struct qb_error err;
	ProtobufCMessage *resp = NULL;
	uint64_t t0 = now_ms();
	int rc;

	qemubox__guest__v1__ping_request__init(&req);
	req.nonce = 4242;
	rc = call("Ping", &req.base,
	    &qemubox__guest__v1__ping_response__descriptor, &resp, &err);
	*rtt_ms = now_ms() - t0;
	if (rc == 0 &&
	    ((Qemubox__Guest__V1__PingResponse *)resp)->nonce != 4242)
		rc = -1;
	if (resp != NULL)
		protobuf_c_message_free_unpacked(resp, NULL);
	return rc;
}

/* ---- scenarios ---- */

static void
t_echo(void)
{
	const char *args[] = {
	    "sh", "-c", "echo hello from qemubox; cat /etc/hostname", NULL};
	struct qb_error err = {0};
	struct exit_rec *e;
	uint32_t out;
	struct sink *k = sink_open(&out);
	int rc;
	uint64_t t0 = now_ms();

	rc = create("c1", args, out, 0, &err);
	tap(rc == 0, "create c1 (EROFS layer + overlay, crun create)%s%s",
	    rc ? ": " : "", rc ? err.msg : "");
	rc = rc ?: start("c1", "", &err);
	tap(rc == 0, "start c1%s%s", rc ? ": " : "", rc ? err.msg : "");
	e = rc ? NULL : wait_exit("c1", "", 30000);
	tap(e != NULL && e->status == 0 && k->closed,
	    "c1 exits 0 after its stdout closed");
	rc = k->buf != NULL &&
	     strcmp(k->buf, "hello from qemubox\nqbtest\n") == 0;
	if (!rc)
		printf("# c1 stdout: %s\n", k->buf ? k->buf : "(none)");
	tap(rc,
	    "stdout read back over the stream: \"hello from qemubox\" + the "
	    "placed "
	    "/etc/hostname (create->exit %llu ms)",
	    (unsigned long long)(now_ms() - t0));
	rc = delete_("c1", "", &err);
	tap(rc == 0, "delete c1%s%s", rc ? ": " : "", rc ? err.msg : "");
	sink_free(k);
}

static void
t_stdin(void)
{
	const char *args[] = {"sh", "-c", "tr a-z A-Z", NULL};
	struct qb_error err = {0};
	struct exit_rec *e;
	struct chan_stream *in;
	uint32_t out, inid;
	struct sink *k = sink_open(&out);
	int rc;

	inid = guest_stream_id(gc);
	in = chan_stream_open(
	    guest_client_chan(gc), inid, CHAN_SEND, NULL, NULL);
	next_stdin = inid;
	rc = create("c6", args, out, 0, &err);
	next_stdin = 0;
	rc = rc ?: start("c6", "", &err);
	if (rc == 0) {
		chan_stream_send(in, "stdin data\n", 11);
		/* CloseIO: EOF on the container's stdin after the bytes. */
		chan_stream_close(in);
	}
	e = rc ? NULL : wait_exit("c6", "", 30000);
	tap(rc == 0 && e != NULL && e->status == 0 && k->buf &&
	        strcmp(k->buf, "STDIN DATA\n") == 0,
	    "stdin stream + CLOSE reach the container (tr sees EOF and exits "
	    "0)%s%s",
	    rc ? ": " : "", rc ? err.msg : "");
	chan_stream_release(in);
	delete_("c6", "", &err);
	sink_free(k);
}

static void
t_user(void)
{
	const char *args[] = {"sh", "-c", "echo $(id -u):$(id -g)", NULL};
	struct qb_error err = {0};
	struct exit_rec *e;
	uint32_t out;
	struct sink *k = sink_open(&out);
	int rc;

	next_uid = 1000;
	rc = create("c7", args, out, 0, &err);
	next_uid = 0;
	rc = rc ?: start("c7", "", &err);
	e = rc ? NULL : wait_exit("c7", "", 30000);
	tap(rc == 0 && e != NULL && e->status == 0 && k->buf &&
	        strcmp(k->buf, "1000:1001\n") == 0,
	    "process.user 1000:1001 runs as that user%s%s", rc ? ": " : "",
	    rc ? err.msg : "");
	delete_("c7", "", &err);
	sink_free(k);
}

static void
t_exit42(void)
{
	const char *args[] = {"sh", "-c", "exit 42", NULL};
	struct qb_error err = {0};
	struct exit_rec *e;
	int rc;

	rc = create("c2", args, 0, 0, &err);
	rc = rc ?: start("c2", "", &err);
	e = rc ? NULL : wait_exit("c2", "", 30000);
	tap(rc == 0 && e != NULL && e->status == 42,
	    "sh -c 'exit 42' -> exit status %d%s%s", e ? (int)e->status : -1,
	    rc ? ": " : "", rc ? err.msg : "");
	delete_("c2", "", &err);
}

static void
t_kill_exec(void)
{
	const char *args[] = {"sleep", "1000", NULL};
	struct qb_error err = {0};
	struct exit_rec *e;
	uint32_t out;
	struct sink *k;
	int rc;

	rc = create("c3", args, 0, 0, &err);
	rc = rc ?: start("c3", "", &err);
	tap(rc == 0, "create + start c3 (sleep)%s%s", rc ? ": " : "",
	    rc ? err.msg : "");
	k = sink_open(&out);
	rc = rc
	         ?: exec_("c3", "e1",
	                "[\"sh\",\"-c\",\"echo exec-ok; exit 3\"]", out, &err);
	e = rc ? NULL : wait_exit("c3", "e1", 30000);
	tap(rc == 0 && e != NULL && e->status == 3 && k->closed && k->buf &&
	        strcmp(k->buf, "exec-ok\n") == 0,
	    "exec in c3: output \"exec-ok\", exit 3%s%s", rc ? ": " : "",
	    rc ? err.msg : "");
	rc = delete_("c3", "e1", &err);
	tap(rc == 0, "delete exec e1%s%s", rc ? ": " : "", rc ? err.msg : "");
	sink_free(k);
	{
		Qemubox__Guest__V1__StatsRequest sr;
		ProtobufCMessage *resp = NULL;
		Io__Containerd__Cgroups__V2__Metrics *m = NULL;

		qemubox__guest__v1__stats_request__init(&sr);
		sr.id = (char *)(uintptr_t) "c3";
		rc = call("Stats", &sr.base,
		    &qemubox__guest__v1__stats_response__descriptor, &resp,
		    &err);
		if (rc == 0) {
			Qemubox__Guest__V1__StatsResponse *r = (void *)resp;

			m = io__containerd__cgroups__v2__metrics__unpack(
			    NULL, r->metrics.len, r->metrics.data);
		}
		tap(m != NULL && m->pids && m->pids->current >= 1 &&
		        m->memory && m->memory->usage > 0 && m->cpu &&
		        m->cpu->usage_usec > 0,
		    "stats (cgroups v2 Metrics): pids %llu, memory %llu bytes, "
		    "cpu %llu us%s%s",
		    m && m->pids ? (unsigned long long)m->pids->current : 0ull,
		    m && m->memory ? (unsigned long long)m->memory->usage
		                   : 0ull,
		    m && m->cpu ? (unsigned long long)m->cpu->usage_usec : 0ull,
		    rc ? ": " : "", rc ? err.msg : "");
		if (m != NULL)
			io__containerd__cgroups__v2__metrics__free_unpacked(
			    m, NULL);
		if (resp != NULL)
			protobuf_c_message_free_unpacked(resp, NULL);
	}
	/* Pause, State, Pids, Update, Resume on the running container. */
	{
		Qemubox__Guest__V1__PauseRequest pr;
		Qemubox__Guest__V1__ResumeRequest rr;
		Qemubox__Guest__V1__StateRequest st;
		Qemubox__Guest__V1__PidsRequest pq;
		Qemubox__Guest__V1__UpdateRequest ur;
		ProtobufCMessage *resp = NULL, *presp = NULL;
		const char *res = "{\"pids\":{\"limit\":50}}";
		int status = -1, npids = -1, rc2, rc3, rc4;

		qemubox__guest__v1__pause_request__init(&pr);
		pr.id = (char *)(uintptr_t) "c3";
		rc = call("Pause", &pr.base, NULL, NULL, &err);
		qemubox__guest__v1__state_request__init(&st);
		st.id = (char *)(uintptr_t) "c3";
		rc2 = call("State", &st.base,
		    &qemubox__guest__v1__state_response__descriptor, &resp,
		    &err);
		if (rc2 == 0)
			status =
			    ((Qemubox__Guest__V1__StateResponse *)resp)->status;
		qemubox__guest__v1__resume_request__init(&rr);
		rr.id = (char *)(uintptr_t) "c3";
		rc3 = call("Resume", &rr.base, NULL, NULL, &err);
		tap(rc == 0 && rc2 == 0 && rc3 == 0 &&
		        status == QEMUBOX__GUEST__V1__STATUS__PAUSED,
		    "pause -> State PAUSED -> resume%s%s", err.code ? ": " : "",
		    err.code ? err.msg : "");
		qemubox__guest__v1__pids_request__init(&pq);
		pq.id = (char *)(uintptr_t) "c3";
		rc = call("Pids", &pq.base,
		    &qemubox__guest__v1__pids_response__descriptor, &presp,
		    &err);
		if (rc == 0)
			npids = (int)((Qemubox__Guest__V1__PidsResponse *)presp)
			            ->n_processes;
		qemubox__guest__v1__update_request__init(&ur);
		ur.id = (char *)(uintptr_t) "c3";
		ur.resources.data = (uint8_t *)(uintptr_t)res;
		ur.resources.len = strlen(res);
		rc4 = call("Update", &ur.base, NULL, NULL, &err);
		tap(rc == 0 && npids == 1 && rc4 == 0,
		    "pids lists %d process, update (pids.limit) "
		    "accepted%s%s",
		    npids, rc4 ? ": " : "", rc4 ? err.msg : "");
		if (resp != NULL)
			protobuf_c_message_free_unpacked(resp, NULL);
		if (presp != NULL)
			protobuf_c_message_free_unpacked(presp, NULL);
	}
	/* SIGTERM to a long-running exec: 143, the container keeps running. */
	k = sink_open(&out);
	rc = exec_("c3", "e2", "[\"sleep\",\"100000\"]", out, &err);
	rc = rc ?: kill_exec("c3", "e2", SIGTERM, &err);
	e = rc ? NULL : wait_exit("c3", "e2", 30000);
	tap(rc == 0 && e != NULL && e->status == 143,
	    "SIGTERM to an exec -> exit status %d%s%s", e ? (int)e->status : -1,
	    rc ? ": " : "", rc ? err.msg : "");
	delete_("c3", "e2", &err);
	sink_free(k);
	/* A terminal exec: output through the pty, resized first. */
	k = sink_open(&out);
	rc = exec_tty("c3", "t1", "[\"sh\",\"-c\",\"sleep 1; stty size; tty\"]",
	    out, true, &err);
	if (rc == 0) {
		Qemubox__Guest__V1__ResizePtyRequest rq;

		qemubox__guest__v1__resize_pty_request__init(&rq);
		rq.id = (char *)(uintptr_t) "c3";
		rq.exec_id = (char *)(uintptr_t) "t1";
		rq.width = 91;
		rq.height = 27;
		rc = call("ResizePty", &rq.base, NULL, NULL, &err);
	}
	e = rc ? NULL : wait_exit("c3", "t1", 30000);
	tap(rc == 0 && e != NULL && e->status == 0 && k->buf &&
	        strstr(k->buf, "27 91\r\n/dev/pts/") != NULL,
	    "terminal exec: ResizePty seen by stty, output via the pty%s%s",
	    rc ? ": " : "", rc ? err.msg : "");
	if (e == NULL || k->buf == NULL || strstr(k->buf, "27 91") == NULL)
		printf("# tty output: %s\n", k->buf ? k->buf : "(none)");
	delete_("c3", "t1", &err);
	sink_free(k);
	rc = kill_("c3", SIGKILL, &err);
	e = rc ? NULL : wait_exit("c3", "", 30000);
	tap(rc == 0 && e != NULL && e->status == 137,
	    "SIGKILL -> exit status %d%s%s", e ? (int)e->status : -1,
	    rc ? ": " : "", rc ? err.msg : "");
	rc = delete_("c3", "", &err);
	tap(rc == 0, "delete c3%s%s", rc ? ": " : "", rc ? err.msg : "");
}

static void
t_flow(void)
{
	const char *args[] = {"sh", "-c",
	    "dd if=/dev/urandom of=/tmp/blob bs=1048576 count=64 2>/dev/null "
	    "&& "
	    "md5sum /tmp/blob >&2 && cat /tmp/blob",
	    NULL};
	struct qb_error err = {0};
	struct exit_rec *e;
	uint32_t out, errs, eout;
	struct sink *k, *ke, *kx;
	uint64_t rtt = 0, t0;
	char host_md5[MD5_DIGEST_STRING_LENGTH];
	int rc, prc;

	k = sink_open(&out);
	k->hash = true;
	k->hold = true;
	ke = sink_open(&errs);
	rc = create("c4", args, out, errs, &err);
	rc = rc ?: start("c4", "", &err);
	tap(rc == 0, "create + start c4 (64 MiB writer)%s%s", rc ? ": " : "",
	    rc ? err.msg : "");
	if (rc != 0) {
		tap(0,
		    "while stdout is stalled: ping and exec answer # not run");
		tap(0, "stalled 5 s # not run");
		tap(0, "all bytes arrived # not run");
		tap(0, "checksum matches # not run");
		sink_free(k);
		sink_free(ke);
		return;
	}
	/* Wait for the writer to fill the window, then hold 5 s. */
	t0 = now_ms();
	while (!dead && k->total < CHAN_WINDOW && now_ms() - t0 < 60000 &&
	       wait_exit("c4", "", 0) == NULL)
		evloop_run_once(loop, 100);
	if (wait_exit("c4", "", 0) != NULL)
		printf("# c4 exited early; stderr: %s\n",
		    ke->buf ? ke->buf : "(none)");
	t0 = now_ms();
	prc = ping(&rtt);
	kx = sink_open(&eout);
	rc = exec_("c4", "probe", "[\"echo\",\"alive\"]", eout, &err);
	e = rc ? NULL : wait_exit("c4", "probe", 30000);
	if (rc != 0)
		printf("# c4 stderr: %s\n", ke->buf ? ke->buf : "(none)");
	tap(prc == 0 && rc == 0 && e != NULL && kx->buf &&
	        strcmp(kx->buf, "alive\n") == 0,
	    "while stdout is stalled: ping answers (%llu ms), exec answers%s%s",
	    (unsigned long long)rtt, rc ? ": " : "", rc ? err.msg : "");
	delete_("c4", "probe", &err);
	sink_free(kx);
	if (now_ms() - t0 < 5000)
		run_for(5000 - (now_ms() - t0));
	tap(k->total == CHAN_WINDOW && wait_exit("c4", "", 0) == NULL,
	    "stalled 5 s: host holds exactly one window (%zu bytes), writer "
	    "blocked (no exit)",
	    k->total);
	/* Let it flow. */
	t0 = now_ms();
	k->hold = false;
	chan_stream_grant(k->s, k->held);
	e = wait_exit("c4", "", 300000);
	MD5End(&k->md5, host_md5);
	tap(e != NULL && e->status == 0 && k->closed && k->total == BIG_BYTES,
	    "all %zu bytes arrived, then exit (%llu ms, %.1f MiB/s)", k->total,
	    (unsigned long long)(now_ms() - t0),
	    (double)k->total / MIB / ((double)(now_ms() - t0 + 1) / 1000));
	tap(ke->buf != NULL && strncmp(ke->buf, host_md5, 32) == 0,
	    "checksum matches: host %s guest %.32s", host_md5,
	    ke->buf ? ke->buf : "-");
	delete_("c4", "", &err);
	sink_free(k);
	sink_free(ke);
}

static void
t_oom(void)
{
	const char *args[] = {
	    "dd", "if=/dev/zero", "of=/dev/null", "bs=96M", "count=1", NULL};
	struct qb_error err = {0};
	struct exit_rec *e;
	uint64_t end;
	int rc;

	spec_mem_limit = 32 * MIB;
	rc = create("c5", args, 0, 0, &err);
	spec_mem_limit = 0;
	rc = rc ?: start("c5", "", &err);
	e = rc ? NULL : wait_exit("c5", "", 30000);
	end = now_ms() + 2000;
	while (e != NULL && oom_id[0] == '\0' && now_ms() < end)
		evloop_run_once(loop, 100);
	tap(rc == 0 && e != NULL && e->status == 137 &&
	        strcmp(oom_id, "c5") == 0,
	    "memory limit 32 MiB, 96 MiB buffer: OOM event for %s, exit %d%s%s",
	    oom_id[0] ? oom_id : "(none)", e ? (int)e->status : -1,
	    rc ? ": " : "", rc ? err.msg : "");
	delete_("c5", "", &err);
}

/* A container prints the kernel's uuid and 16 bytes of /dev/urandom. */
static void
t_rng(const char *role)
{
	const char *args[] = {"sh", "-c",
	    "cat /proc/sys/kernel/random/uuid; head -c 16 /dev/urandom | od "
	    "-An -tx1 | tr -d ' \\n'; echo; date +%s",
	    NULL};
	struct qb_error err = {0};
	struct exit_rec *e;
	char uuid[64] = "", hex[64] = "";
	long long gdate = 0;
	uint32_t out;
	struct sink *k = sink_open(&out);
	int rc;

	rc = create("rng", args, out, 0, &err);
	rc = rc ?: start("rng", "", &err);
	e = rc ? NULL : wait_exit("rng", "", 30000);
	if (e != NULL && k->buf != NULL &&
	    sscanf(k->buf, "%63s %63s %lld", uuid, hex, &gdate) != 3)
		uuid[0] = '\0';
	tap(rc == 0 && e != NULL && e->status == 0 && uuid[0] != '\0',
	    "container reads /proc/sys/kernel/random/uuid and /dev/urandom%s%s",
	    rc ? ": " : "", rc ? err.msg : "");
	printf("# rng-id: %s %s %s\n", role, uuid, hex);
	if (strcmp(role, "template") != 0) {
		long long d = (long long)time(NULL) - gdate;

		tap(gdate != 0 && d >= -5 && d <= 5,
		    "the clone's wall clock is the host's (guest %lld, host "
		    "%lld)",
		    gdate, (long long)time(NULL));
	}
	delete_("rng", "", &err);
	sink_free(k);
}

static unsigned long pss_kib(pid_t pid);

/* Clone mode: NULL role = a plain boot. */
static const char *clone_role, *clone_dir;

/*
 * Bench: an idle container, then wait hold_s seconds or until DIR/stop
 * exists (the bench reads every clone's PSS while all are alive, then
 * creates it), then QEMU's PSS.
 */
static void
t_hold(pid_t qemu, uint64_t hold_s)
{
	const char *args[] = {"sleep", "1000000", NULL};
	struct qb_error err = {0};
	char stop[PATH_MAX];
	uint64_t end = now_ms() + hold_s * 1000;
	int rc;

	snprintf(stop, sizeof(stop), "%s/stop", clone_dir);
	rc = create("idle", args, 0, 0, &err);
	rc = rc ?: start("idle", "", &err);
	tap(rc == 0, "idle container running%s%s", rc ? ": " : "",
	    rc ? err.msg : "");
	while (!dead && now_ms() < end && access(stop, F_OK) == -1)
		run_for(500);
	printf("# clone-idle-pss-kib: %lu\n", pss_kib(qemu));
}

/* Clone: a bad seed is refused, then the real SetIdentity is answered. */
static void
t_identity(void)
{
	Qemubox__Guest__V1__SetIdentityRequest req;
	uint8_t small[8] = {0};
	struct qb_error err = {0};
	struct result r = {
	    .desc = &qemubox__guest__v1__set_identity_response__descriptor};
	uint64_t t0 = now_ms();
	int rc;

	qemubox__guest__v1__set_identity_request__init(&req);
	req.seed.data = small;
	req.seed.len = sizeof(small);
	rc = call("SetIdentity", &req.base,
	    &qemubox__guest__v1__set_identity_response__descriptor, NULL, &err);
	tap(rc == -1 && err.code == QB_E_INVALID,
	    "SetIdentity with an 8-byte seed is refused (%s)", err.msg);
	rc = guest_client_set_identity(gc, 60000, call_done, &r);
	if (rc == 0)
		run_until(&r.done, 70000);
	tap(rc == 0 && r.done && r.err.code == 0,
	    "SetIdentity (32-byte getrandom seed + clock) answered in %llu "
	    "ms%s%s",
	    (unsigned long long)(now_ms() - t0), r.err.code ? ": " : "",
	    r.err.code ? r.err.msg : "");
	if (r.resp != NULL)
		protobuf_c_message_free_unpacked(r.resp, NULL);
}

static int qmp_fd = -1, state_fd = -1;

static pid_t
spawn_qemu(int fd, const char *kernel, const char *initrd, const char *layer,
    const char *console)
{
	char khz_arg[256], drive[512], serial[512], chardev[64];
	char mem[PATH_MAX + 128], qmp[64];
	const char *argv[64];
	long khz = 2000000;
	FILE *f;
	char line[256];
	pid_t pid;
	int n = 0, qsv[2] = {-1, -1};

	if ((f = fopen("/proc/cpuinfo", "r")) != NULL) {
		while (fgets(line, sizeof(line), f) != NULL) {
			double mhz;

			if (sscanf(line, "cpu MHz : %lf", &mhz) == 1) {
				khz = (long)(mhz * 1000);
				break;
			}
		}
		fclose(f);
	}
	/* Clone mode: vmmon's TCG clock and CPU settings (qemu_argv.c). */
	snprintf(khz_arg, sizeof(khz_arg),
	    "console=ttyS0 quiet panic=-1 tsc_early_khz=%ld%s%s", khz,
	    clone_role != NULL ? " tsc=reliable" : "",
	    getenv("QB_GUEST_DEBUG") ? " qemubox.debug=1" : "");
	snprintf(drive, sizeof(drive),
	    "file=%s,if=none,id=l0,format=raw,readonly=on", layer);
	snprintf(serial, sizeof(serial), "file:%s", console);
	snprintf(chardev, sizeof(chardev), "socket,id=chan,fd=%d", fd);
	{
		/*
		 * Clone mode: vmmon's device set (qemu_argv.c) and order, but
		 * no free page reporting: QEMU 7.2 discards a reported range
		 * of file-backed RAM with fallocate(PUNCH_HOLE) on the file,
		 * even when mapped private, so a clone would punch holes in
		 * the template every later clone maps. Template and clones
		 * must agree (the reporting queue is part of the state).
		 */
		const char *plain[] = {"qemu-system-x86_64", "-machine",
		    "microvm", "-accel", "tcg", "-m", "512M", "-smp", "2",
		    "-nodefaults", "-no-user-config", "-nographic",
		    "-no-reboot", "-kernel", kernel, "-initrd", initrd,
		    "-append", khz_arg, "-serial", serial, "-device",
		    "virtio-serial-device", "-chardev", chardev, "-device",
		    "virtserialport,chardev=chan,name=qemubox.0", "-drive",
		    drive, "-device",
		    "virtio-blk-device,drive=l0,serial=layer0", NULL};
		const char *cloned[] = {"qemu-system-x86_64", "-machine",
		    "microvm", "-accel", "tcg,tb-size=32", "-cpu",
		    "qemu64,+arat", "-m", "512M", "-smp", "1", "-nodefaults",
		    "-no-user-config", "-display", "none", "-no-reboot",
		    "-kernel", kernel, "-initrd", initrd, "-append", khz_arg,
		    "-serial", serial, "-object", "rng-builtin,id=rng0",
		    "-device", "virtio-rng-device,rng=rng0", "-device",
		    "virtio-balloon-device,free-page-reporting=off", "-chardev",
		    chardev, "-device", "virtio-serial-device,id=vser0",
		    "-device",
		    "virtserialport,bus=vser0.0,chardev=chan,name=qemubox.0",
		    "-drive", drive, "-device",
		    "virtio-blk-device,drive=l0,serial=layer0", NULL};
		const char **base = clone_role != NULL ? cloned : plain;

		for (; base[n] != NULL; n++)
			argv[n] = base[n];
	}
	if (clone_role != NULL) {
		bool tmpl = strcmp(clone_role, "template") == 0;

		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, qsv) ==
		    -1)
			return -1;
		fcntl(qsv[1], F_SETFD, 0);
		qmp_fd = qsv[0];
		snprintf(qmp, sizeof(qmp), "socket,id=qmp,fd=%d", qsv[1]);
		snprintf(mem, sizeof(mem),
		    "memory-backend-file,id=mem0,size=512M,mem-path=%s/mem,"
		    "share=%s",
		    clone_dir, tmpl ? "on" : "off");
		argv[n++] = "-object";
		argv[n++] = mem;
		argv[n++] = "-machine";
		argv[n++] = "memory-backend=mem0";
		argv[n++] = "-chardev";
		argv[n++] = qmp;
		argv[n++] = "-mon";
		argv[n++] = "chardev=qmp,mode=control";
		if (!tmpl) {
			argv[n++] = "-incoming";
			argv[n++] = "defer";
		}
	}
	argv[n] = NULL;
	if ((pid = fork()) == 0) {
		int nul = open("/dev/null", O_RDWR);

		dup2(nul, 0);
		dup2(nul, 1);
		execvp(argv[0], (char *const *)(uintptr_t)argv);
		_exit(127);
	}
	if (qsv[1] != -1)
		close(qsv[1]);
	return pid;
}

/* ---- clone mode: QMP over a socketpair, line by line ---- */

static char qbuf[65536];
static size_t qlen;

/* One JSON line from QEMU into line (NUL-terminated); -1 on EOF. */
static int
qmp_line(char *line, size_t cap)
{
	char *nl;
	ssize_t r;
	size_t n;

	while ((nl = memchr(qbuf, '\n', qlen)) == NULL) {
		if (qlen == sizeof(qbuf))
			return -1;
		if ((r = read(qmp_fd, qbuf + qlen, sizeof(qbuf) - qlen)) <= 0)
			return -1;
		qlen += (size_t)r;
	}
	*nl = '\0';
	n = (size_t)(nl - qbuf) < cap - 1 ? (size_t)(nl - qbuf) : cap - 1;
	memcpy(line, qbuf, n);
	line[n] = '\0';
	qlen -= (size_t)(nl + 1 - qbuf);
	memmove(qbuf, nl + 1, qlen);
	return 0;
}

/* Sends cmd (with fd, if >= 0, by SCM_RIGHTS); the answer line in out. */
static int
qmp_cmd(const char *cmd, int fd, char *out, size_t cap)
{
	size_t n = strlen(cmd);

	if (fd >= 0 ? fdpass_send(qmp_fd, cmd, n, &fd, 1) == -1
	            : write(qmp_fd, cmd, n) != (ssize_t)n)
		return -1;
	for (;;) {
		if (qmp_line(out, cap) == -1)
			return -1;
		if (strstr(out, "\"return\"") != NULL)
			return 0;
		if (strstr(out, "\"error\"") != NULL) {
			printf("# qmp: %s -> %s\n", cmd, out);
			return -1;
		}
	}
}

static int
qmp_start(void)
{
	char l[4096];

	if (qmp_line(l, sizeof(l)) == -1)
		return -1;
	return qmp_cmd("{\"execute\":\"qmp_capabilities\"}\n", -1, l,
	           sizeof(l)) == -1 ||
	               qmp_cmd("{\"execute\":\"migrate-set-capabilities\","
	                       "\"arguments\":{\"capabilities\":[{"
	                       "\"capability\":\"x-ignore-shared\","
	                       "\"state\":true}]}}\n",
	                   -1, l, sizeof(l)) == -1
	           ? -1
	           : 0;
}

/* Polls cmd until its answer holds one of want (NULL-terminated). */
static int
qmp_wait(const char *cmd, const char *const want[], const char *fail,
    int timeout_ms, char *l, size_t cap)
{
	int i, t;

	for (t = 0; t < timeout_ms; t += 20) {
		if (qmp_cmd(cmd, -1, l, cap) == -1)
			return -1;
		for (i = 0; want[i] != NULL; i++)
			if (strstr(l, want[i]) != NULL)
				return i;
		if (fail != NULL && strstr(l, fail) != NULL)
			return -1;
		usleep(20000);
	}
	return -1;
}

/*
 * Template: save the device state to DIR/state, then quit. The VM must not
 * run on: with share=on its writes reach DIR/mem, which then no longer
 * matches the saved device state (clones fail to load virtio queues).
 */
static int
template_save(uint64_t *ms)
{
	static const char *const done[] = {"\"status\": \"completed\"", NULL};
	char path[PATH_MAX], l[4096];
	uint64_t t0 = now_ms();
	int fd, rc = -1;

	snprintf(path, sizeof(path), "%s/state", clone_dir);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) ==
	    -1)
		return -1;
	if (qmp_start() == -1 ||
	    qmp_cmd("{\"execute\":\"stop\"}\n", -1, l, sizeof(l)) == -1 ||
	    qmp_cmd("{\"execute\":\"getfd\",\"arguments\":{\"fdname\":"
	            "\"state\"}}\n",
	        fd, l, sizeof(l)) == -1 ||
	    qmp_cmd("{\"execute\":\"migrate\",\"arguments\":{\"uri\":"
	            "\"fd:state\"}}\n",
	        -1, l, sizeof(l)) == -1 ||
	    qmp_wait("{\"execute\":\"query-migrate\"}\n", done, "\"failed\"",
	        60000, l, sizeof(l)) != 0)
		goto out;
	*ms = now_ms() - t0;
	rc = qmp_cmd("{\"execute\":\"quit\"}\n", -1, l, sizeof(l));
out:
	close(fd);
	return rc;
}

/* Clone: load DIR/state into the VM QEMU started with -incoming defer. */
static int
clone_restore(void)
{
	/* QEMU's answer also has a "running" key: match the status value. */
	static const char *const st[] = {
	    "\"status\": \"running\"", "\"status\": \"paused\"", NULL};
	char cmd[256], l[4096];
	int r;

	snprintf(cmd, sizeof(cmd),
	    "{\"execute\":\"migrate-incoming\",\"arguments\":{\"uri\":"
	    "\"fd:%d\"}}\n",
	    state_fd);
	if (qmp_start() == -1 || qmp_cmd(cmd, -1, l, sizeof(l)) == -1)
		return -1;
	/* The template was stopped when saved: its clone comes up paused. */
	r = qmp_wait("{\"execute\":\"query-status\"}\n", st,
	    "\"status\": \"shutdown\"", 60000, l, sizeof(l));
	if (r == 1 &&
	    qmp_cmd("{\"execute\":\"cont\"}\n", -1, l, sizeof(l)) == -1)
		return -1;
	return r == 0 || r == 1 ? 0 : -1;
}

static unsigned long
pss_kib(pid_t pid)
{
	char path[64], line[256];
	unsigned long v = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "Pss: %lu kB", &v) == 1)
			break;
	fclose(f);
	return v;
}

static int
wait_qemu(pid_t pid, int timeout_ms, int *status)
{
	int i;

	for (i = 0; i < timeout_ms / 50; i++) {
		if (waitpid(pid, status, WNOHANG) == pid)
			return 0;
		usleep(50000);
	}
	return -1;
}

/* Clone mode: the template's or a clone's run; returns the exit code. */
/* The guest powers off when asked. */
static void
t_shutdown(void)
{
	Qemubox__Guest__V1__Empty e;
	struct qb_error err = {0};

	qemubox__guest__v1__empty__init(&e);
	tap(call("Shutdown", &e.base, NULL, NULL, &err) == 0,
	    "shutdown answered");
}

/* QEMU exits 0 within 30 s, else it is killed and reaped. */
static void
t_qemu_exits(pid_t qemu)
{
	int st;

	if (wait_qemu(qemu, 30000, &st) == 0)
		tap(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		    "QEMU exits 0 within 30 s (status %d)",
		    WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	else {
		tap(0, "QEMU exits 0 within 30 s");
		kill(qemu, SIGKILL);
		waitpid(qemu, &st, 0);
	}
}

static int
clone_main(pid_t qemu)
{
	uint64_t rtt = 0, ms = 0;
	int rc;

	if (strcmp(clone_role, "template") == 0) {
		printf("1..5\n");
		run_until(&ready, 130000);
		tap(ready, "template guest ready event");
		if (!ready)
			goto out;
		tap(ping(&rtt) == 0, "ping");
		t_rng("template");
		rc = template_save(&ms);
		tap(rc == 0,
		    "state saved by QMP migrate (x-ignore-shared) in %llu ms, "
		    "QEMU told to quit",
		    (unsigned long long)ms);
		goto out;
	} else {
		uint64_t t0 = now_ms();

		const char *hold = getenv("QB_CLONE_HOLD");

		printf("1..%d\n", hold != NULL ? 14 : 13);
		rc = clone_restore();
		tap(rc == 0,
		    "clone restored from the state file: running %llu "
		    "ms after QEMU started",
		    (unsigned long long)(now_ms() - t0));
		if (rc == -1)
			goto out;
		guest_client_restored(gc);
		tap(ping(&rtt) == 0, "ping answered by the restored agent");
		t_identity();
		ms = (evloop_now_ns() - t_qemu_ns) / 1000000;
		t_rng("clone");
		/* From QEMU's start: what `ctr run` from a clone would wait. */
		printf("# clone-ms: identity %llu first-container-exit %llu\n",
		    (unsigned long long)ms,
		    (unsigned long long)((evloop_now_ns() - t_qemu_ns) /
		                         1000000));
		t_echo();
		printf("# clone QEMU PSS %lu KiB\n", pss_kib(qemu));
		if (hold != NULL)
			t_hold(qemu, (uint64_t)strtoul(hold, NULL, 10));
	}
	t_shutdown();
out:
	t_qemu_exits(qemu);
	return failures ? 1 : 0;
}

int
main(int argc, char **argv)
{
	int sv[2];
	pid_t qemu;
	uint64_t rtt = 0;
	int prc;

	if (argc != 6) {
		fprintf(stderr, "usage: %s KERNEL INITRD LAYER SPEC CONSOLE\n",
		    argv[0]);
		return 2;
	}
	log_init("guest_driver", getenv("QB_GUEST_DEBUG") != NULL);
	clone_role = getenv("QB_CLONE_ROLE");
	clone_dir = getenv("QB_CLONE_DIR");
	if (clone_role != NULL) {
		char path[PATH_MAX];

		if (clone_dir == NULL ||
		    (strcmp(clone_role, "template") != 0 &&
		        strcmp(clone_role, "clone") != 0)) {
			fprintf(stderr, "QB_CLONE_ROLE: template|clone, and "
			                "QB_CLONE_DIR\n");
			return 2;
		}
		snprintf(path, sizeof(path), "%s/state", clone_dir);
		/* QEMU inherits the state fd: migrate-incoming fd:N. */
		if (strcmp(clone_role, "clone") == 0 &&
		    (state_fd = open(path, O_RDONLY)) == -1) {
			perror(path);
			return 1;
		}
	}
	base_spec_path = argv[4];
	signal(SIGPIPE, SIG_IGN);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1)
		return 1;
	/* QEMU inherits sv[1] only. */
	fcntl(sv[1], F_SETFD, 0);
	loop = evloop_new();
	t_qemu_ns = evloop_now_ns();
	qemu = spawn_qemu(sv[1], argv[1], argv[2], argv[3], argv[5]);
	close(sv[1]);
	if (qemu == -1)
		return 1;
	if (state_fd != -1)
		close(state_fd);
	gc = guest_client_new(loop, sv[0], 120000, &ops, NULL);
	if (clone_role != NULL)
		return clone_main(qemu);

	printf("1..28\n");
	run_until(&ready, 130000);
	tap(ready, "guest ready event");
	if (!ready)
		goto out;
	printf("# boot-to-ready: guest %llu ms (CLOCK_BOOTTIME), QEMU start to "
	       "ready event %llu "
	       "ms wall (TCG microvm)\n",
	    (unsigned long long)ready_boot_ms,
	    (unsigned long long)((evloop_now_ns() - t_qemu_ns) / 1000000));
	prc = ping(&rtt);
	tap(prc == 0, "ping (%llu ms)", (unsigned long long)rtt);
	t_echo();
	t_stdin();
	t_user();
	t_exit42();
	t_kill_exec();
	t_flow();
	t_oom();
	t_shutdown();
out:
	t_qemu_exits(qemu);
	guest_client_free(gc);
	close(sv[0]);
	evloop_free(loop);
	return failures ? 1 : 0;
}
