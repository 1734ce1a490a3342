/*
 * Volumes that join or leave a running share (fsd/fsd.h): a pod's later
 * containers bring their own binds after the VM booted.
 *
 * The source is cloned as a detached mount here, in fsd's own (the host's)
 * mount namespace, where its path means what the shim meant, and made
 * nosuid, nodev (read-only when asked). The share's keeper, a child of the
 * set-up process that stayed in the share's mount namespace (entering it
 * later would need CAP_SYS_CHROOT, which fsd does not hold), receives it
 * and attaches it on the spare slot's empty directory (a directory) or on
 * <slot>/QB_FS_FILE_NAME in a tiny read-only tmpfs on the slot (a file). The
 * share's tmpfs is a shared mount and virtiofsd's namespace a slave copy of it,
 * so the mount appears in what virtiofsd serves; the tmpfs itself stays
 * read-only throughout. The keeper ends with its virtiofsd (parent-death
 * signal) or when fsd closes its socket.
 */
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fsd/fsd.h"
#include "lib/fdpass.h"
#include "lib/log.h"

#define KEEPER_TIMEOUT_MS 10000

/* One request to the keeper: attach the passed tree at slot, or detach. */
struct keeper_req {
	uint32_t index;
	uint32_t attach; /* 1: attach the passed fd, 0: detach */
};

/*
 * A directory is attached on the slot's directory. A file needs a file to
 * be mounted on, and the share's tmpfs stays read-only: the slot gets a
 * tiny tmpfs of its own holding one empty file, QB_FS_FILE_NAME, which the
 * source is attached on; then that tmpfs is made read-only too.
 */
static int
attach(int tree, const char *slot)
{
	char file[96];
	struct stat st;
	int fd, e;

	if (fstat(tree, &st) == -1)
		return -1;
	if (!S_ISREG(st.st_mode))
		return move_mount(
		    tree, "", AT_FDCWD, slot, MOVE_MOUNT_F_EMPTY_PATH);
	snprintf(file, sizeof(file), "%s/%s", slot, QB_FS_FILE_NAME);
	if (mount("qemubox-file", slot, "tmpfs",
	        MS_NOSUID | MS_NODEV | MS_NOEXEC,
	        "mode=0755,size=4k,nr_inodes=4") == -1)
		return -1;
	if ((fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644)) ==
	        -1 ||
	    close(fd) == -1 ||
	    move_mount(tree, "", AT_FDCWD, file, MOVE_MOUNT_F_EMPTY_PATH) ==
	        -1 ||
	    mount(NULL, slot, NULL,
	        MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
	        "mode=0755,size=4k,nr_inodes=4") == -1) {
		e = errno;
		(void)umount2(slot, MNT_DETACH);
		errno = e;
		return -1;
	}
	return 0;
}

void
fsd_keeper(int sock)
{
	struct keeper_req kr;
	char path[64];
	int32_t result;

	(void)prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	for (;;) {
		size_t nfds;
		ssize_t n;
		int fd;

		if ((n = fdpass_recv(sock, &kr, sizeof(kr), &fd, 1, &nfds)) <=
		    0)
			_exit(0);
		/* fsd is the only peer; anything malformed ends the keeper. */
		if (n != sizeof(kr) || kr.index >= QB_FS_MAX_VOLUMES ||
		    (kr.attach == 1) != (fd != -1))
			_exit(1);
		snprintf(path, sizeof(path), "%s/%u", FSD_SHARE_DIR, kr.index);
		if (kr.attach)
			result = attach(fd, path) == -1 ? errno : 0;
		else
			result =
			    umount2(path, MNT_DETACH | UMOUNT_NOFOLLOW) == -1
			        ? errno
			        : 0;
		if (fd != -1)
			close(fd);
		if (send(sock, &result, sizeof(result), MSG_NOSIGNAL) !=
		    sizeof(result))
			_exit(0);
	}
}

/* Asks the keeper; 0, or -1 with errno from the keeper (EIO if it is
 * gone or silent). */
static int
keeper_ask(int keeper, uint32_t index, int treefd)
{
	struct keeper_req kr = {index, treefd != -1};
	struct pollfd pfd = {keeper, POLLIN, 0};
	int32_t result;

	if (fdpass_send(keeper, &kr, sizeof(kr), &treefd, treefd != -1) == -1 ||
	    poll(&pfd, 1, KEEPER_TIMEOUT_MS) != 1 ||
	    recv(keeper, &result, sizeof(result), 0) != sizeof(result)) {
		errno = EIO;
		return -1;
	}
	if (result != 0) {
		errno = result;
		return -1;
	}
	return 0;
}

int
fsd_share_add(int keeper, const char *id, const struct qb_fs_volume *vol,
    struct qb_error *err)
{
	struct mount_attr attr;
	struct stat st;
	int treefd;

	/* Not AT_RECURSIVE: mounts below the source are not served, as for
	 * the volumes of the start. */
	if ((treefd = open_tree(AT_FDCWD, vol->source,
	         OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC)) == -1)
		return qb_seterr(err, QB_E_INVALID, "%s: volume source %s: %s",
		    id, vol->source, strerror(errno));
	if (fstat(treefd, &st) == -1 ||
	    (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))) {
		close(treefd);
		return qb_seterr(err, QB_E_INVALID,
		    "%s: volume source %s is neither a directory nor a "
		    "regular file",
		    id, vol->source);
	}
	memset(&attr, 0, sizeof(attr));
	attr.attr_set = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV |
	                (vol->readonly ? MOUNT_ATTR_RDONLY : 0);
	if (mount_setattr(treefd, "", AT_EMPTY_PATH, &attr, sizeof(attr)) ==
	        -1 ||
	    keeper_ask(keeper, vol->index, treefd) == -1) {
		qb_seterr(err, QB_E_INTERNAL, "%s: volume %u (%s): %s", id,
		    vol->index, vol->source, strerror(errno));
		close(treefd);
		return -1;
	}
	close(treefd);
	log_info("%s: %s: volume %u joined (%s%s)", __func__, id, vol->index,
	    vol->source, vol->readonly ? ", read-only" : "");
	return 0;
}

int
fsd_share_del(int keeper, const char *id, uint32_t index, struct qb_error *err)
{
	if (keeper_ask(keeper, index, -1) == -1)
		return qb_seterr(err, QB_E_INTERNAL, "%s: volume %u: %s", id,
		    index, strerror(errno));
	log_info("%s: %s: volume %u left", __func__, id, index);
	return 0;
}
