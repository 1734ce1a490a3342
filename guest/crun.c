/*
 * crun invocations and bundle rewriting (guest/crun.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <json-c/json.h>

#include "guest/crun.h"
#include "guest/gfile.h"
#include "lib/evloop.h"
#include "guest/pid1.h"
#include "lib/log.h"

#define CRUN_LOG      "/run/qemubox/crun.log"
#define CRUN_MAX_ARGS 32
/* The seals crun takes as "already cloned" (all four, nothing else). */
#define CRUN_SEALS (F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)

extern char **environ;

static struct json_object *
parse_json(const uint8_t *p, size_t n, struct qb_error *err)
{
	struct json_tokener *tok;
	struct json_object *o;

	if (n > INT_MAX) {
		qb_seterr(err, QB_E_INVALID, "JSON too large");
		return NULL;
	}
	if ((tok = json_tokener_new()) == NULL) {
		qb_seterr(err, QB_E_INTERNAL, "out of memory");
		return NULL;
	}
	o = json_tokener_parse_ex(tok, (const char *)p, (int)n);
	if (o == NULL || json_tokener_get_error(tok) != json_tokener_success ||
	    !json_object_is_type(o, json_type_object)) {
		qb_seterr(err, QB_E_INVALID, "invalid JSON: %s",
		    json_tokener_error_desc(json_tokener_get_error(tok)));
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	return o;
}

static int
save_json(const char *path, struct json_object *o, struct qb_error *err)
{
	const char *s =
	    json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);

	if (s == NULL || gfile_replace(path, s, strlen(s), 0600) == -1)
		return qb_seterr(
		    err, QB_E_INTERNAL, "write %s: %s", path, strerror(errno));
	return 0;
}

static struct json_object *
obj_child(struct json_object *parent, const char *key)
{
	struct json_object *o;

	if (!json_object_object_get_ex(parent, key, &o) ||
	    !json_object_is_type(o, json_type_object)) {
		o = json_object_new_object();
		json_object_object_add(parent, key, o);
	}
	return o;
}

/* Remove the network namespace: the container shares the VM's eth0. */
static void
drop_netns(struct json_object *spec)
{
	struct json_object *linux_, *ns, *e, *type, *kept;
	size_t i, n;

	if (!json_object_object_get_ex(spec, "linux", &linux_) ||
	    !json_object_object_get_ex(linux_, "namespaces", &ns) ||
	    !json_object_is_type(ns, json_type_array))
		return;
	kept = json_object_new_array();
	n = json_object_array_length(ns);
	for (i = 0; i < n; i++) {
		e = json_object_array_get_idx(ns, i);
		if (json_object_object_get_ex(e, "type", &type) &&
		    strcmp(json_object_get_string(type), "network") == 0)
			continue;
		json_object_array_add(kept, json_object_get(e));
	}
	json_object_object_add(linux_, "namespaces", kept);
}

static void
add_file_mounts(
    struct json_object *spec, const struct bundle_file *files, size_t nfiles)
{
	struct json_object *mounts, *kept, *e, *dst, *m, *opts;
	size_t i, j, n;

	if (!json_object_object_get_ex(spec, "mounts", &mounts) ||
	    !json_object_is_type(mounts, json_type_array)) {
		mounts = json_object_new_array();
		json_object_object_add(spec, "mounts", mounts);
	}
	kept = json_object_new_array();
	n = json_object_array_length(mounts);
	for (i = 0; i < n; i++) {
		e = json_object_array_get_idx(mounts, i);
		bool replaced = false;

		if (json_object_object_get_ex(e, "destination", &dst))
			for (j = 0; j < nfiles; j++)
				if (strcmp(json_object_get_string(dst),
				        files[j].dest) == 0)
					replaced = true;
		if (!replaced)
			json_object_array_add(kept, json_object_get(e));
	}
	for (j = 0; j < nfiles; j++) {
		m = json_object_new_object();
		json_object_object_add(
		    m, "destination", json_object_new_string(files[j].dest));
		json_object_object_add(
		    m, "type", json_object_new_string("bind"));
		json_object_object_add(
		    m, "source", json_object_new_string(files[j].src));
		opts = json_object_new_array();
		json_object_array_add(opts, json_object_new_string("rbind"));
		json_object_array_add(opts, json_object_new_string("rprivate"));
		json_object_array_add(opts, json_object_new_string("ro"));
		json_object_object_add(m, "options", opts);
		json_object_array_add(kept, m);
	}
	json_object_object_add(spec, "mounts", kept);
}

/*
 * The guest's crun (1.8) accepts only ociVersion 1.0.x; containerd 2.x writes
 * 1.2.x. Runtime-spec 1.y only added fields (crun ignores those it does not
 * know), so a 1.y spec goes on as 1.0.2; another major version is refused.
 * guest/pid1.c's selftest spec says 1.0.2 for the same reason.
 */
static int
set_oci_version(struct json_object *spec, struct qb_error *err)
{
	struct json_object *v;
	const char *s;

	if (!json_object_object_get_ex(spec, "ociVersion", &v))
		return 0; /* crun checks the version only when there is one */
	if ((s = json_object_get_string(v)) == NULL || strncmp(s, "1.", 2) != 0)
		return qb_seterr(
		    err, QB_E_INVALID, "OCI spec: ociVersion %s is not 1.x", s);
	json_object_object_add(
	    spec, "ociVersion", json_object_new_string("1.0.2"));
	return 0;
}

int
crun_write_bundle(const char *dir, const uint8_t *specb, size_t n,
    const char *rootfs, bool terminal, const struct bundle_file *files,
    size_t nfiles, struct qb_error *err)
{
	struct json_object *spec, *root, *proc, *linux_;
	char path[PATH_MAX];
	int rc;

	if ((spec = parse_json(specb, n, err)) == NULL)
		return qb_preferr(err, "OCI spec");
	if (set_oci_version(spec, err) == -1) {
		json_object_put(spec);
		return -1;
	}
	root = obj_child(spec, "root");
	json_object_object_add(root, "path", json_object_new_string(rootfs));
	proc = obj_child(spec, "process");
	json_object_object_add(
	    proc, "terminal", json_object_new_boolean(terminal));
	/* Host AppArmor/SELinux profiles do not exist in the guest. */
	json_object_object_del(proc, "apparmorProfile");
	json_object_object_del(proc, "selinuxLabel");
	if (json_object_object_get_ex(spec, "linux", &linux_))
		json_object_object_del(linux_, "mountLabel");
	drop_netns(spec);
	add_file_mounts(spec, files, nfiles);
	snprintf(path, sizeof(path), "%s/config.json", dir);
	rc = save_json(path, spec, err);
	json_object_put(spec);
	return rc;
}

int
crun_write_process(const char *path, const uint8_t *json, size_t n,
    bool terminal, struct qb_error *err)
{
	struct json_object *proc;
	int rc;

	if ((proc = parse_json(json, n, err)) == NULL)
		return qb_preferr(err, "OCI process");
	json_object_object_add(
	    proc, "terminal", json_object_new_boolean(terminal));
	json_object_object_del(proc, "apparmorProfile");
	json_object_object_del(proc, "selinuxLabel");
	rc = save_json(path, proc, err);
	json_object_put(proc);
	return rc;
}

static void
read_log(char *out, size_t outlen)
{
	ssize_t n;
	char *nl;

	if ((n = gfile_read(CRUN_LOG, out, outlen)) <= 0) {
		out[0] = '\0';
		return;
	}
	/* One line is enough for the user: crun's last message. */
	while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == ' '))
		out[--n] = '\0';
	if ((nl = strrchr(out, '\n')) != NULL)
		memmove(out, nl + 1, strlen(nl + 1) + 1);
}

/*
 * crun runs from one sealed in-memory copy of its binary. Against a
 * container overwriting the runtime through /proc/self/exe (CVE-2019-5736)
 * crun re-executes itself from a read-only clone at every start, unless
 * /proc/self/exe already is a memfd sealed against writing, shrinking and
 * growing: then it goes on at once. That second execve (ld.so loading and
 * relocating crun's 11 libraries again) was half of every crun call under
 * TCG. Nobody can write to the sealed copy, so the protection stays. Made on
 * first use; -1 (crun runs from CRUN_PATH) when the kernel refuses.
 */
static int
crun_memfd(void)
{
	static int mfd = -2;
	char buf[65536];
	ssize_t n;
	int fd = -1, in;

	if (mfd != -2)
		return mfd;
	mfd = -1;
	if ((fd = memfd_create("crun", MFD_CLOEXEC | MFD_ALLOW_SEALING)) ==
	    -1) {
		log_warn("%s: memfd_create", __func__);
		return -1;
	}
	if ((in = open(CRUN_PATH, O_RDONLY | O_CLOEXEC)) == -1)
		goto fail;
	while ((n = read(in, buf, sizeof(buf))) != 0) {
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 || write(fd, buf, (size_t)n) != n) {
			close(in);
			goto fail;
		}
	}
	close(in);
	if (fcntl(fd, F_ADD_SEALS, CRUN_SEALS) == -1)
		goto fail;
	mfd = fd;
	return mfd;
fail:
	log_warn("%s: sealed copy of %s", __func__, CRUN_PATH);
	close(fd);
	return -1;
}

void
crun_prepare(void)
{
	(void)crun_memfd();
}

int
crun_cmd(const char *const args[], const int fds[3], struct qb_error *err)
{
	const char *argv[CRUN_MAX_ARGS + 6];
	char msg[512];
	int i, n = 0, st, nullfd = -1, mfd;
	uint64_t t0;
	pid_t pid;

	argv[n++] = CRUN_PATH;
	argv[n++] = "--root=" CRUN_ROOT;
	argv[n++] = "--log=file:" CRUN_LOG;
	for (i = 0; args[i] != NULL && i < CRUN_MAX_ARGS; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	(void)unlink(CRUN_LOG);
	if (log_get_debug()) {
		char line[512] = "";

		for (i = 3; i < n; i++) {
			strncat(line, argv[i], sizeof(line) - strlen(line) - 2);
			strncat(line, " ", sizeof(line) - strlen(line) - 1);
		}
		log_debug("%s: crun %s", __func__, line);
	}
	t0 = evloop_now_ns();
	mfd = crun_memfd();
	if ((pid = fork()) == -1)
		return qb_seterr(
		    err, QB_E_INTERNAL, "fork: %s", strerror(errno));
	if (pid == 0) {
		pid1_child_reset();
		nullfd = open("/dev/null", O_RDWR);
		for (i = 0; i < 3; i++) {
			int fd = fds != NULL && fds[i] >= 0 ? fds[i] : nullfd;

			/* dup2 onto itself keeps FD_CLOEXEC: clear it by hand.
			 */
			if (fd == i)
				fcntl(fd, F_SETFD, 0);
			else if (dup2(fd, i) == -1)
				_exit(127);
		}
		if (mfd >= 0)
			fexecve(mfd, (char *const *)(uintptr_t)argv, environ);
		execv(CRUN_PATH, (char *const *)(uintptr_t)argv);
		_exit(127);
	}
	while (waitpid(pid, &st, 0) == -1) {
		if (errno != EINTR)
			return qb_seterr(
			    err, QB_E_INTERNAL, "waitpid: %s", strerror(errno));
	}
	log_debug("%s: crun %s: %llu ms", __func__, args[0],
	    (unsigned long long)(evloop_now_ns() - t0) / 1000000);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return 0;
	read_log(msg, sizeof(msg));
	return qb_seterr(err, QB_E_UNKNOWN, "crun %s: %s", args[0],
	    msg[0] ? msg : "failed without a message");
}

pid_t
crun_read_pid(const char *path)
{
	char buf[32];
	long v;

	if (gfile_read(path, buf, sizeof(buf)) <= 0)
		return -1;
	v = strtol(buf, NULL, 10);
	if (v <= 1 || v > INT_MAX)
		return -1;
	return (pid_t)v;
}

int
crun_console_listen(const char *path)
{
	struct sockaddr_un sun;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(sun.sun_path, path);
	(void)unlink(path);
	if ((fd = socket(
	         AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) == -1)
		return -1;
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1 ||
	    listen(fd, 1) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

/* crun has exited by now: its connection and message wait in the backlog. */
int
crun_console_recv(int lfd)
{
	char data[256];
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} cbuf;
	struct iovec iov = {data, sizeof(data)};
	struct msghdr msg;
	struct cmsghdr *cm;
	int c, fd = -1;

	if ((c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) == -1)
		return -1;
	memset(&msg, 0, sizeof(msg));
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = cbuf.buf;
	msg.msg_controllen = sizeof(cbuf.buf);
	if (recvmsg(c, &msg, MSG_CMSG_CLOEXEC) == -1) {
		close(c);
		return -1;
	}
	close(c);
	for (cm = CMSG_FIRSTHDR(&msg); cm != NULL; cm = CMSG_NXTHDR(&msg, cm))
		if (cm->cmsg_level == SOL_SOCKET &&
		    cm->cmsg_type == SCM_RIGHTS &&
		    cm->cmsg_len == CMSG_LEN(sizeof(int)))
			memcpy(&fd, CMSG_DATA(cm), sizeof(int));
	if (fd == -1)
		errno = EBADMSG;
	return fd;
}
