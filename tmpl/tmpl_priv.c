/*
 * qemubox-tmpl: what it does as root, in this order, then the one drop.
 *
 *   1. <state_dir>/tmpl (root, 0700): its lock (one holder per state dir;
 *      a second one exits at once) and the listening socket tmpl.sock
 *      (0600): only root can reach it; SO_PEERCRED checks again per peer.
 *   2. The guest kernel and initrd (paths.share_dir), opened once: what the
 *      template boots and what GET_REQs are compared with (dev, ino, size,
 *      mtime).
 *   3. A private network namespace holding one TAP: the template's NIC is a
 *      `-netdev tap,fd=` like a sandbox's, so a clone's argv (its own TAP
 *      from privnet) is the same. The holder itself keeps that namespace:
 *      it has no network at all.
 *   4. Its uid: a sandbox uid of security.vmmon_uid_range, recorded as
 *      "qemubox-tmpl" with the holder as owner (lib/sandbox_uid.c: released
 *      by qemubox-cleanup once the holder and every process of the uid are
 *      gone), or security.vmmon_user's when there is no range. Its vmmons
 *      and their QEMUs run as that uid too.
 *   5. TMPL_ATTEMPTS qemubox-vmmon, each PID 1 of its own PID namespace
 *      (vmmon builds its jail as root): one per boot attempt, since the
 *      holder cannot start one later.
 *   6. The drop: every capability (bounding set too), uid/gid, NoNewPrivs,
 *      not dumpable; then Landlock with no rule (no filesystem access at
 *      all: it only holds fds) and its seccomp filter (tmpl.c).
 */
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/ids_drop.h"
#include "lib/landlock.h"
#include "lib/log.h"
#include "lib/path.h"
#include "lib/proc_spawn.h"
#include "lib/sandbox_uid.h"
#include "lib/tap_open.h"
#include "lib/unix_addr.h"
#include "lib/vmmon_args.h"
#include "tmpl/tmpl.h"

#define TMPL_KERNEL "kernel/qemubox-kernel-x86_64"
#define TMPL_INITRD "kernel/qemubox-initrd"
#define TMPL_TAP    "qbtmpl0"

/* A directory of root's with exactly mode, created if missing. */
static int
root_dir(const char *path, mode_t mode)
{
	struct stat st;

	if (mkdir(path, mode) == -1 && errno != EEXIST)
		return -1;
	if (lstat(path, &st) == -1)
		return -1;
	if (!S_ISDIR(st.st_mode) || st.st_uid != 0) {
		errno = EPERM;
		return -1;
	}
	if ((st.st_mode & 07777) != mode && chmod(path, mode) == -1)
		return -1;
	return 0;
}

/* 0: locked and listening; 1: another holder has the lock; -1: error. */
int
tmpl_lock_and_listen(struct tmpl *t)
{
	struct sockaddr_un sun;
	char path[PATH_MAX];
	mode_t old;

	/* The state dir is the shim's (created at install): never made or
	 * changed here. */
	if (qb_path_join(
	        t->dir, sizeof(t->dir), t->cfg.paths.state_dir, "tmpl") == -1 ||
	    root_dir(t->dir, 0700) == -1) {
		log_warn("%s: %s/tmpl", __func__, t->cfg.paths.state_dir);
		return -1;
	}
	if (qb_path_join(path, sizeof(path), t->dir, "lock") == -1 ||
	    (t->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
	         0600)) == -1) {
		log_warn("%s: %s", __func__, path);
		return -1;
	}
	if (flock(t->lock_fd, LOCK_EX | LOCK_NB) == -1) {
		if (errno == EWOULDBLOCK)
			return 1;
		log_warn("%s: flock %s", __func__, path);
		return -1;
	}
	if (qb_path_join(path, sizeof(path), t->dir, TMPL_SOCK_NAME) == -1 ||
	    unix_addr(&sun, path) == -1) {
		log_warnx("%s: socket path too long", __func__);
		return -1;
	}
	/* Ours now (we hold the lock): a socket left by a dead holder. */
	if (unlink(path) == -1 && errno != ENOENT) {
		log_warn("%s: unlink %s", __func__, path);
		return -1;
	}
	if ((t->listen_fd = socket(
	         AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) == -1)
		return -1;
	old = umask(0177);
	if (bind(t->listen_fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		umask(old);
		log_warn("%s: bind %s", __func__, path);
		return -1;
	}
	umask(old);
	if (listen(t->listen_fd, 16) == -1) {
		log_warn("%s: listen", __func__);
		return -1;
	}
	log_info("%s: serving on %s", __func__, path);
	return 0;
}

static int
open_id(const struct qb_config *cfg, const char *rel, int *fd,
    struct qb_tmpl_file_id *id)
{
	char path[PATH_MAX];

	if (qb_path_join(path, sizeof(path), cfg->paths.share_dir, rel) == -1 ||
	    (*fd = open(path, O_RDONLY | O_CLOEXEC)) == -1 ||
	    qb_tmpl_file_id(*fd, id) == -1) {
		log_warn("%s: %s (paths.share_dir)", __func__, path);
		return -1;
	}
	return 0;
}

int
tmpl_open_guest(struct tmpl *t)
{
	if (open_id(&t->cfg, TMPL_KERNEL, &t->kernel_fd, &t->have.kernel) ==
	        -1 ||
	    open_id(&t->cfg, TMPL_INITRD, &t->initrd_fd, &t->have.initrd) == -1)
		return -1;
	return 0;
}

int
tmpl_make_tap(struct tmpl *t)
{
	if (unshare(CLONE_NEWNET) == -1) {
		log_warn("%s: unshare(CLONE_NEWNET)", __func__);
		return -1;
	}
	if ((t->tap_fd = tap_open(TMPL_TAP)) == -1) {
		log_warn("%s: TAP %s", __func__, TMPL_TAP);
		return -1;
	}
	return 0;
}

int
tmpl_pick_uid(struct tmpl *t)
{
	const struct qb_config *c = &t->cfg;
	struct qb_error err = {0};
	struct passwd *pw;
	uint32_t uid;

	if (c->security.vmmon_uid_first != 0) {
		if (sandbox_uid_acquire(c->paths.state_dir,
		        c->security.vmmon_uid_first, c->security.vmmon_uid_last,
		        "qemubox-tmpl", (int64_t)getpid(), NULL, &uid,
		        &err) == -1) {
			log_warnx("%s: %s", __func__, err.msg);
			return -1;
		}
		t->uid = (uid_t)uid;
		t->gid = (gid_t)uid;
		return 0;
	}
	if ((pw = getpwnam(c->security.vmmon_user)) == NULL ||
	    pw->pw_uid == 0) {
		log_warnx("%s: user %s: absent or root", __func__,
		    c->security.vmmon_user);
		return -1;
	}
	t->uid = pw->pw_uid;
	t->gid = pw->pw_gid;
	return 0;
}

/* qemubox-vmmon sits next to us (libexec). */
static int
vmmon_path(char *buf, size_t len)
{
	char self[PATH_MAX];

	if (qb_path_self_dir(self, sizeof(self)) == -1)
		return -1;
	return qb_path_join(buf, len, self, "qemubox-vmmon");
}

int
tmpl_spawn_vmmons(struct tmpl *t)
{
	struct proc_spawn_opts opts = {.new_pidns = true};
	const char *args[16];
	char *argv[16], path[PATH_MAX], tbuf[24], ubuf[16];
	int i, k, sv[2];

	if (vmmon_path(path, sizeof(path)) == -1) {
		log_warnx("%s: cannot locate qemubox-vmmon", __func__);
		return -1;
	}
	/* The config's uid range gives sandbox uids (-U); else -u user. */
	vmmon_spawn_args(&t->cfg,
	    t->cfg.security.vmmon_uid_first != 0 ? (uint32_t)t->uid : 0,
	    t->debug, args, tbuf, sizeof(tbuf), ubuf, sizeof(ubuf));
	argv[0] = path;
	for (k = 0; args[k] != NULL && k < 14; k++)
		argv[k + 1] = (char *)(uintptr_t)args[k];
	argv[k + 1] = NULL;
	for (i = 0; i < TMPL_ATTEMPTS; i++) {
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) ==
		    -1)
			return -1;
		t->vmmon_pid[i] = proc_spawn_opt(
		    path, argv, sv[1], PROC_SPAWN_IMSG_FD, &opts);
		close(sv[1]);
		if (t->vmmon_pid[i] == -1) {
			log_warn("%s: spawn %s", __func__, path);
			close(sv[0]);
			return -1;
		}
		t->vmmon_fd[i] = sv[0];
	}
	log_info("%s: %d vmmons as uid %u", __func__, TMPL_ATTEMPTS,
	    (unsigned)t->uid);
	return 0;
}

void
tmpl_priv_drop(struct tmpl *t)
{
	ids_drop(t->uid, t->gid, &t->gid, 1);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
		fatal("%s: no_new_privs", __func__);
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == -1)
		fatal("%s: dumpable", __func__);
	/* No rule: every handled filesystem access is denied from here. */
	if (landlock_restrict(NULL, 0) == -1)
		fatalx("%s: landlock", __func__);
}
