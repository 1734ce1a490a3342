/*
 * qemubox-spawner [-d] [-S] -w LAYER_CACHE_DIR: started by the shim daemon
 * while it is still
 * root (shim/shim_serve.c), with its imsg socket on fd 3. It keeps only
 * SPAWNER_OWN_CAPS (spawner/spawner.h) and uses them for one thing: to
 * start qemubox-layerbuild with at most CAP_DAC_READ_SEARCH and
 * CAP_SYS_ADMIN, as uid 65534, for a containerd snapshot directory.
 *
 * Protocol (imsg/qemubox_imsg.h, 600..649): the main socket carries only
 * IMSG_SPAWN_CHANNEL, each with a fresh socket. The spawner forks one
 * handler per channel; the handler reads exactly one IMSG_LAYER_BUILD_REQ
 * (+ the output file's fd), validates it, runs the builder, answers one
 * IMSG_LAYER_BUILD_RES and exits. If the asker goes away (the shim's
 * build was cancelled) the handler kills the builder. Anything else on
 * either socket ends that connection; EOF on the main socket ends the
 * spawner.
 */
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <linux/securebits.h>

#include <cap-ng.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "imsg/imsg.h"
#include "imsg/qemubox_imsg.h"
#include "lib/path.h"
#include "lib/landlock.h"
#include "lib/log.h"
#include "seccomp/seccomp.h"
#include "spawner/spawner.h"
#include "vmmon/elf_deps.h"

#define MAIN_FD 3
/* How long an asker has to send its request once the channel exists. */
#define REQ_TIMEOUT_MS 10000

#define SPAWNER_SECUREBITS                                               \
	(SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP | \
	    SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_KEEP_CAPS_LOCKED)

static char builder_path[PATH_MAX];
static const char *cache_dir; /* where the output files are (-w) */
static enum qb_seccomp_mode sc_mode = QB_SECCOMP_ENFORCE;

/* ---- the spawner's own confinement -------------------------------------- */

static void
caps_set(uint64_t eff_prm, uint64_t inh, uint64_t bound)
{
	capng_clear(CAPNG_SELECT_ALL);
	for (unsigned c = 0; c <= CAP_LAST_CAP; c++) {
		if (eff_prm & (1ULL << c))
			capng_update(
			    CAPNG_ADD, CAPNG_EFFECTIVE | CAPNG_PERMITTED, c);
		if (inh & (1ULL << c))
			capng_update(CAPNG_ADD, CAPNG_INHERITABLE, c);
		if (bound & (1ULL << c))
			capng_update(CAPNG_ADD, CAPNG_BOUNDING_SET, c);
	}
}

static void
spawner_confine(void)
{
	struct landlock_rule rules[2 * ELF_DEPS_MAX + 8];
	static struct elf_deps deps;
	size_t n = 0;

	if (prctl(PR_SET_SECUREBITS, SPAWNER_SECUREBITS, 0, 0, 0) == -1)
		fatal("%s: PR_SET_SECUREBITS", __func__);
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) == -1)
		fatal("%s: PR_CAP_AMBIENT_CLEAR_ALL", __func__);
	caps_set(SPAWNER_OWN_CAPS, SPAWNER_LAYER_CAPS, SPAWNER_OWN_CAPS);
	if (capng_apply(CAPNG_SELECT_BOUNDS) == -1 ||
	    capng_apply(CAPNG_SELECT_CAPS) == -1)
		fatalx("%s: cannot set the capability sets", __func__);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
		fatal("%s: PR_SET_NO_NEW_PRIVS", __func__);

	/*
	 * Read anywhere (it resolves the paths it is asked about), execute
	 * only the builder, mkfs.erofs and their libraries, write nothing
	 * but /dev/null and the layer cache: the builder's mkfs.erofs reopens
	 * its output file there through /proc/self/fd, which Landlock checks
	 * against every domain it inherited. The builder narrows this to
	 * that one file.
	 */
	memset(&deps, 0, sizeof(deps));
	if (elf_deps_add(&deps, builder_path) == -1 ||
	    elf_deps_add(&deps, SPAWNER_MKFS) == -1)
		fatal("%s: libraries of %s and %s", __func__, builder_path,
		    SPAWNER_MKFS);
	rules[n++] = (struct landlock_rule){"/", LL_READ};
	rules[n++] = (struct landlock_rule){"/dev/null", LL_WRITE};
	rules[n++] = (struct landlock_rule){cache_dir, LL_READ | LL_WRITE};
	rules[n++] = (struct landlock_rule){builder_path, LL_EXEC};
	rules[n++] = (struct landlock_rule){SPAWNER_MKFS, LL_EXEC};
	for (size_t i = 0; i < deps.n; i++)
		rules[n++] = (struct landlock_rule){deps.path[i], LL_EXEC};
	if (landlock_restrict(rules, n) != 0)
		fatalx("%s: Landlock is required (the builders read layers "
		       "with CAP_DAC_READ_SEARCH)",
		    __func__);
	if (seccomp_apply_spawner(sc_mode) == -1)
		fatal("%s: seccomp", __func__);
}

/* ---- one build ------------------------------------------------------------
 */

static void
reply(int fd, const struct qb_layer_build_res *res)
{
	struct imsgbuf ib;

	imsg_init(&ib, fd);
	if (imsg_compose(
	        &ib, IMSG_LAYER_BUILD_RES, 0, 0, -1, res, sizeof(*res)) == -1)
		return;
	while (imsg_flush(&ib) == -1 && (errno == EAGAIN || errno == EINTR))
		;
	imsg_clear(&ib);
}

static void
refuse(int fd, const char *fmt, const char *arg)
{
	struct qb_layer_build_res res;

	memset(&res, 0, sizeof(res));
	res.result = QB_LAYER_REFUSED;
	snprintf(res.msg, sizeof(res.msg), fmt, arg);
	log_warnx("refused: %s", res.msg);
	reply(fd, &res);
}

/* Read the one request of a channel; -1 on anything else. */
static int
read_request(int fd, struct qb_layer_build_req *req, int *out_fd)
{
	struct imsgbuf ib;
	struct imsg imsg;
	struct pollfd pfd = {fd, POLLIN, 0};
	ssize_t n;
	int rc = -1;

	*out_fd = -1;
	imsg_init(&ib, fd);
	for (;;) {
		if ((n = imsg_get(&ib, &imsg)) == -1)
			break;
		if (n > 0) {
			if (imsg_get_type(&imsg) == IMSG_LAYER_BUILD_REQ &&
			    qb_imsg_get_struct(&imsg, req, sizeof(*req)) == 0 &&
			    (*out_fd = qb_imsg_take_fd(&imsg)) != -1)
				rc = 0;
			else
				log_warnx("%s: not a layer build request (type "
				          "%u, %zu bytes)",
				    __func__, imsg_get_type(&imsg),
				    imsg_get_len(&imsg));
			imsg_free(&imsg);
			break;
		}
		if (poll(&pfd, 1, REQ_TIMEOUT_MS) <= 0)
			break;
		if ((n = imsg_read(&ib)) == -1 && errno == EAGAIN)
			continue;
		if (n <= 0)
			break;
	}
	imsg_clear(&ib);
	return rc;
}

/*
 * The builder child: place fds, take the request's identity, exec. Runs in
 * a fresh fork; every failure is _exit(127) with a line on the pipe.
 */
static void __attribute__((noreturn)) exec_builder(
    int out_fd, int errw, int privileged, const char *comp, const char *real)
{
	char *argv[8];
	sigset_t none;
	int devnull, argc = 0;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGCHLD, SIG_DFL);
	signal(SIGPIPE, SIG_DFL);
	/* out_fd may already be 3 (dup2 would then keep its close-on-exec),
	 * and errw may be 3: place each via a fresh number first. */
	if ((out_fd = fcntl(out_fd, F_DUPFD, 10)) == -1 ||
	    (errw = fcntl(errw, F_DUPFD, 10)) == -1 ||
	    (devnull = open("/dev/null", O_RDWR)) == -1 ||
	    dup2(devnull, 0) == -1 || dup2(devnull, 1) == -1 ||
	    dup2(errw, 2) == -1 || dup2(out_fd, 3) == -1 ||
	    close_range(4, ~0U, 0) == -1)
		goto fail;
	errw = 2;
	(void)prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	if (privileged) {
		if (setgroups(0, NULL) == -1 ||
		    setresgid(SPAWNER_BUILD_GID, SPAWNER_BUILD_GID,
		        SPAWNER_BUILD_GID) == -1 ||
		    setresuid(SPAWNER_BUILD_UID, SPAWNER_BUILD_UID,
		        SPAWNER_BUILD_UID) == -1)
			goto fail;
		/* NO_SETUID_FIXUP kept the sets; narrow them to the two. */
		caps_set(
		    SPAWNER_LAYER_CAPS, SPAWNER_LAYER_CAPS, SPAWNER_LAYER_CAPS);
		if (capng_apply(CAPNG_SELECT_BOUNDS) == -1 ||
		    capng_apply(CAPNG_SELECT_CAPS) == -1 ||
		    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE,
		        CAP_DAC_READ_SEARCH, 0, 0) == -1 ||
		    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_SYS_ADMIN,
		        0, 0) == -1)
			goto fail;
	} else {
		/* uid 0 without any capability: what the shim itself is. */
		caps_set(0, 0, 0);
		if (capng_apply(CAPNG_SELECT_BOUNDS) == -1 ||
		    capng_apply(CAPNG_SELECT_CAPS) == -1)
			goto fail;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
		goto fail;
	argv[argc++] = builder_path;
	argv[argc++] = "-z";
	argv[argc++] = (char *)(uintptr_t)comp;
	if (sc_mode == QB_SECCOMP_LOG)
		argv[argc++] = "-S";
	argv[argc++] = (char *)(uintptr_t)real;
	argv[argc] = NULL;
	execv(builder_path, argv);
fail:
	dprintf(errw, "qemubox-spawner: cannot start %s: %s\n", builder_path,
	    strerror(errno));
	_exit(127);
}

/* The snapshotter directory above a snapshot path must be root's alone. */
static int
snapshotter_dir_ok(const char *real)
{
	char dir[PATH_MAX], *p;
	struct stat st;
	int i;

	if (strlen(real) >= sizeof(dir))
		return 0;
	strcpy(dir, real);
	/* strip "/fs", "/<N>", "/snapshots" */
	for (i = 0; i < 3; i++) {
		if ((p = strrchr(dir, '/')) == NULL)
			return 0;
		*p = '\0';
	}
	return lstat(dir, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == 0 &&
	       (st.st_mode & 022) == 0;
}

static void __attribute__((noreturn)) handle_channel(int fd)
{
	struct qb_layer_build_req req;
	struct qb_layer_build_res res;
	char real[PATH_MAX];
	struct stat st;
	struct pollfd pfd[2];
	size_t len = 0;
	int out_fd, ep[2], privileged, fl, status;
	pid_t pid;

	signal(SIGCHLD, SIG_DFL);
	(void)prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	if (read_request(fd, &req, &out_fd) == -1)
		_exit(1);
	if (qb_imsg_check_strfield(req.dir, sizeof(req.dir)) <= 0 ||
	    qb_imsg_check_strfield(req.compression, sizeof(req.compression)) <=
	        0) {
		refuse(fd, "%s", "malformed request");
		_exit(1);
	}
	if (strcmp(req.compression, "none") != 0 &&
	    strcmp(req.compression, "lz4") != 0 &&
	    strcmp(req.compression, "lz4hc") != 0) {
		refuse(fd, "unknown compression %s", req.compression);
		_exit(1);
	}
	if (fstat(out_fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    st.st_size != 0 || (fl = fcntl(out_fd, F_GETFL)) == -1 ||
	    (fl & O_ACCMODE) == O_RDONLY) {
		refuse(fd, "%s", "the output is not an empty writable file");
		_exit(1);
	}
	if (req.dir[0] != '/' || realpath(req.dir, real) == NULL ||
	    stat(real, &st) == -1 || !S_ISDIR(st.st_mode)) {
		refuse(fd, "layer %s is not an existing directory", req.dir);
		_exit(1);
	}
	privileged = spawner_is_snapshot_path(real) && snapshotter_dir_ok(real);
	log_debug("%s: building %s (%s)", __func__, real,
	    privileged ? "snapshot: CAP_DAC_READ_SEARCH+CAP_SYS_ADMIN"
	               : "no capability");

	if (pipe2(ep, O_CLOEXEC) == -1 || (pid = fork()) == -1) {
		refuse(fd, "cannot start the builder: %s", strerror(errno));
		_exit(1);
	}
	if (pid == 0) {
		close(ep[0]);
		exec_builder(out_fd, ep[1], privileged, req.compression, real);
	}
	close(ep[1]);
	close(out_fd);

	memset(&res, 0, sizeof(res));
	pfd[0] = (struct pollfd){ep[0], POLLIN, 0};
	pfd[1] = (struct pollfd){fd, POLLIN, 0};
	while (pfd[0].fd != -1) {
		if (poll(pfd, 2, -1) == -1) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pfd[1].revents != 0) {
			/* The asker is gone (or broke protocol): stop. */
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			log_info("%s: asker left, build of %s killed", __func__,
			    real);
			_exit(1);
		}
		if (pfd[0].revents != 0) {
			char sink[512];
			ssize_t r;

			if (len < sizeof(res.msg) - 1)
				r = read(ep[0], res.msg + len,
				    sizeof(res.msg) - 1 - len);
			else
				r = read(ep[0], sink, sizeof(sink));
			if (r == -1 && errno == EINTR)
				continue;
			if (r <= 0) {
				close(ep[0]);
				pfd[0].fd = -1;
			} else if (len < sizeof(res.msg) - 1) {
				len += (size_t)r;
			}
		}
	}
	while (waitpid(pid, &status, 0) == -1)
		if (errno != EINTR)
			_exit(1);
	res.msg[len] = '\0';
	res.wstatus = status;
	res.privileged = (uint32_t)privileged;
	res.result = WIFEXITED(status) && WEXITSTATUS(status) == 0
	                 ? QB_LAYER_OK
	                 : QB_LAYER_FAILED;
	reply(fd, &res);
	_exit(0);
}

/* ---- the main socket ------------------------------------------------------
 */

static int
dispatch_shim(struct imsgbuf *ib)
{
	struct imsg imsg;
	ssize_t n;
	int fd;
	pid_t pid;

	while ((n = imsg_get(ib, &imsg)) > 0) {
		if (imsg_get_type(&imsg) != IMSG_SPAWN_CHANNEL ||
		    imsg_get_len(&imsg) != 0 ||
		    (fd = qb_imsg_take_fd(&imsg)) == -1) {
			log_warnx("%s: unexpected message type %u: closing",
			    __func__, imsg_get_type(&imsg));
			imsg_free(&imsg);
			return -1;
		}
		imsg_free(&imsg);
		switch (pid = fork()) {
		case -1:
			log_warn("%s: fork", __func__);
			break;
		case 0:
			close(ib->fd);
			handle_channel(fd);
		}
		close(fd);
	}
	return n == -1 ? -1 : 0;
}

static int
builder_path_init(void)
{
	char self[PATH_MAX];

	if (qb_path_self_dir(self, sizeof(self)) == -1 ||
	    qb_path_join(builder_path, sizeof(builder_path), self,
	        SPAWNER_LAYERBUILD) == -1)
		return -1;
	return access(builder_path, X_OK);
}

int
main(int argc, char *argv[])
{
	struct imsgbuf ib;
	int c, debug = 0;

	while ((c = getopt(argc, argv, "dSw:")) != -1) {
		switch (c) {
		case 'd':
			debug = 1;
			break;
		case 'S':
			sc_mode = QB_SECCOMP_LOG;
			break;
		case 'w':
			cache_dir = optarg;
			break;
		default:
			goto usage;
		}
	}
	if (cache_dir == NULL || cache_dir[0] != '/' || optind != argc)
		goto usage;
	log_init("spawner", debug);
	if (fcntl(MAIN_FD, F_GETFD) == -1)
		fatalx("%s: no imsg socket on fd %d", __func__, MAIN_FD);
	if (geteuid() != 0)
		fatalx("%s: must be started as root (by the shim)", __func__);
	if (builder_path_init() == -1)
		fatal(
		    "%s: %s next to the spawner", __func__, SPAWNER_LAYERBUILD);
	/* Handlers are reaped by the kernel; each waits for its builder. */
	signal(SIGCHLD, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	(void)prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	/* The shim's layer_cache_init would create it after we are fenced
	 * (and its parent, the state dir, 0700 as layer_cache_init does). */
	{
		char parent[PATH_MAX], *slash;

		if (strlen(cache_dir) >= sizeof(parent))
			fatalx("%s: -w too long", __func__);
		strcpy(parent, cache_dir);
		if ((slash = strrchr(parent, '/')) != NULL && slash != parent) {
			*slash = '\0';
			if (mkdir(parent, 0700) == -1 && errno != EEXIST)
				fatal("%s: mkdir %s", __func__, parent);
		}
		if (mkdir(cache_dir, 0700) == -1 && errno != EEXIST)
			fatal("%s: mkdir %s", __func__, cache_dir);
	}
	spawner_confine();
	log_debug("%s: ready (builder %s)", __func__, builder_path);

	imsg_init(&ib, MAIN_FD);
	(void)qb_imsg_serve(&ib, dispatch_shim, 0, NULL);
	imsg_clear(&ib);
	return 0;
usage:
	fprintf(
	    stderr, "usage: qemubox-spawner [-d] [-S] -w LAYER_CACHE_DIR\n");
	return 2;
}
