/*
 * Daemon mode: what `start` spawned (cwd = bundle, stdio /dev/null, the
 * listening socket on fd 3) or a shim run by hand with -socket.
 * Order: log FIFO as stderr, child subreaper, helpers forked while still
 * root, privilege drop, then serve until Shutdown or SIGTERM/SIGINT.
 */
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/path.h"
#include "lib/config.h"
#include "lib/log.h"
#include "shim/shim_cli.h"
#include "shim/shim_daemon.h"
#include "shim/shim_priv.h"

int
shim_check_config(void)
{
	return qb_config_check_main();
}

/* The listening socket's path, so the daemon can remove it on exit. */
static int
listen_fd_path(int fd, char *path, size_t len)
{
	struct sockaddr_un sun;
	socklen_t sl = sizeof(sun);
	int acc = 0;
	socklen_t al = sizeof(acc);

	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &al) == -1)
		return -1;
	if (!acc) {
		errno = EINVAL;
		return -1;
	}
	memset(&sun, 0, sizeof(sun));
	if (getsockname(fd, (struct sockaddr *)&sun, &sl) == -1)
		return -1;
	if (sun.sun_family != AF_UNIX || sun.sun_path[0] == '\0') {
		path[0] = '\0'; /* abstract or unnamed: nothing to unlink */
		return 0;
	}
	if (strlen(sun.sun_path) >= len) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(path, sun.sun_path, strlen(sun.sun_path) + 1);
	return 0;
}

/* dir/sub when it is a directory holding a qemubox helper. */
static int
libexec_candidate(const char *dir, const char *sub, char *out, size_t len)
{
	char cand[PATH_MAX], probe[PATH_MAX + 32], real[PATH_MAX];

	if (snprintf(cand, sizeof(cand), "%s/%s", dir, sub) >=
	    (int)sizeof(cand))
		return -1;
	if (snprintf(probe, sizeof(probe), "%s/qemubox-privnet", cand) >=
	        (int)sizeof(probe) ||
	    access(probe, F_OK) == -1) {
		if (snprintf(probe, sizeof(probe), "%s/qemubox-vmmon", cand) >=
		        (int)sizeof(probe) ||
		    access(probe, F_OK) == -1)
			return -1;
	}
	if (realpath(cand, real) == NULL || strlen(real) >= len)
		return -1;
	memcpy(out, real, strlen(real) + 1);
	return 0;
}

/*
 * Helpers live in QB_LIBEXECDIR, or next to our own binary when that holds
 * them: ../libexec/qemubox (a scratch-prefix install) or ../libexec (the
 * build tree, build/bin and build/libexec).
 */
int
shim_libexec_dir(char *dir, size_t len)
{
	char self[PATH_MAX];

	if (qb_path_self_dir(self, sizeof(self)) == 0 &&
	    (libexec_candidate(self, "../libexec/qemubox", dir, len) == 0 ||
	        libexec_candidate(self, "../libexec", dir, len) == 0))
		return 0;
	if (strlen(QB_LIBEXECDIR) >= len) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(dir, QB_LIBEXECDIR, strlen(QB_LIBEXECDIR) + 1);
	return 0;
}

int
shim_daemon(const struct shim_opts *o, const struct shim_wiring *w)
{
	struct shim_daemon_ctx d;
	int logfd, rc;

	memset(&d, 0, sizeof(d));
	d.opts = o;
	d.wiring = w;
	d.listen_fd = -1;
	/* containerd copies the bundle's `log` FIFO into its own log. */
	if ((logfd = shim_open_log_fifo(".")) != -1) {
		if (dup2(logfd, STDERR_FILENO) == -1)
			fatal("%s: dup2 log", __func__);
		close(logfd);
	}
	log_init("shim", o->debug);
	signal(SIGPIPE, SIG_IGN);
	/* Processes we fork (helpers, their children) are reaped by us. */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == -1)
		log_warn("%s: PR_SET_CHILD_SUBREAPER", __func__);

	if (o->socket[0] != '\0') {
		const char *p = shim_uri_path(o->socket);
		if (p == NULL)
			p = o->socket;
		if ((d.listen_fd = shim_socket_listen(p)) == -1)
			fatal("%s: listen %s", __func__, p);
	} else {
		d.listen_fd = 3;
		if (fcntl(d.listen_fd, F_SETFD, FD_CLOEXEC) == -1)
			fatal("%s: no listening socket on fd 3 (run by "
			      "`start`, or give -socket)",
			    __func__);
	}
	if (listen_fd_path(d.listen_fd, d.socket_path, sizeof(d.socket_path)) ==
	    -1)
		fatal("%s: fd %d is not a listening unix socket", __func__,
		    d.listen_fd);
	if (strncmp(d.socket_path, SHIM_SOCKET_DIR "/",
	        strlen(SHIM_SOCKET_DIR) + 1) == 0 &&
	    shim_socket_dir_prepare() == -1)
		log_warn("%s: %s", __func__, SHIM_SOCKET_DIR);
	log_info("%s: namespace=%s id=%s socket=%s pid=%d", __func__,
	    o->namespace, o->id, d.socket_path, (int)getpid());

	rc = shim_serve(&d);

	if (d.socket_path[0] != '\0' && unlink(d.socket_path) == -1 &&
	    errno != ENOENT)
		log_warn("%s: unlink %s", __func__, d.socket_path);
	log_info("%s: exiting (%d)", __func__, rc);
	return rc;
}
