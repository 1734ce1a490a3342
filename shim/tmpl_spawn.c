#include "shim/tmpl_spawn.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/path.h"
#include "lib/proc_spawn.h"
#include "lib/unix_addr.h"

int
tmpl_sock_path(const struct qb_config *cfg, char *buf, size_t len)
{
	char dir[PATH_MAX];

	if (qb_path_join(dir, sizeof(dir), cfg->paths.state_dir, "tmpl") == -1)
		return -1;
	return qb_path_join(buf, len, dir, "tmpl.sock");
}

/* Does a holder accept connections on the socket? */
static bool
holder_answers(const struct qb_config *cfg)
{
	struct sockaddr_un sun;
	char path[PATH_MAX];
	bool up;
	int s;

	if (tmpl_sock_path(cfg, path, sizeof(path)) == -1 ||
	    unix_addr(&sun, path) == -1 ||
	    (s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return false;
	up = connect(s, (struct sockaddr *)&sun, sizeof(sun)) == 0;
	close(s);
	return up;
}

/* The middle child: a new session, the log as stderr, the holder. */
static void __attribute__((noreturn))
middle(const struct qb_config *cfg, const char *path, bool debug)
{
	char log[PATH_MAX], *argv[3];
	int fd, nul;

	if (setsid() == -1)
		_exit(1);
	if (qb_path_join(log, sizeof(log), cfg->paths.log_dir,
	        "qemubox-tmpl.log") == 0 &&
	    (fd = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640)) !=
	        -1) {
		dup2(fd, STDERR_FILENO);
		close(fd);
	}
	/* proc_spawn keeps one fd as 3: /dev/null (the holder ignores it). */
	if ((nul = open("/dev/null", O_RDWR | O_CLOEXEC)) == -1)
		_exit(1);
	argv[0] = (char *)(uintptr_t)path;
	argv[1] = debug ? (char *)(uintptr_t) "-d" : NULL;
	argv[2] = NULL;
	_exit(proc_spawn(path, argv, nul, PROC_SPAWN_IMSG_FD) == -1 ? 1 : 0);
}

int
tmpl_spawn_if_down(const struct qb_config *cfg, const char *libexec, bool debug)
{
	char path[PATH_MAX];
	pid_t pid;
	int status;

	if (holder_answers(cfg))
		return 1;
	if (qb_path_join(path, sizeof(path), libexec, "qemubox-tmpl") == -1)
		return -1;
	if (access(path, X_OK) == -1) {
		log_warn("%s: %s", __func__, path);
		return -1;
	}
	if ((pid = fork()) == -1) {
		log_warn("%s: fork", __func__);
		return -1;
	}
	if (pid == 0)
		middle(cfg, path, debug);
	if (waitpid(pid, &status, 0) == -1 || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0) {
		log_warnx("%s: could not start %s", __func__, path);
		errno = ECHILD;
		return -1;
	}
	log_info("%s: started %s (cloning: runtime.clone)", __func__, path);
	return 0;
}
