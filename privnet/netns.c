#include <dirent.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lib/log.h"
#include "privnet/privnet.h"

int
netns_own_path(const char *id, char *path, size_t pathlen)
{
	if ((size_t)snprintf(path, pathlen, "%s/%s%s", PRIVNET_NETNS_DIR,
	        PRIVNET_NETNS_PREFIX, id) >= pathlen) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

/*
 * Like `ip netns add`: /run/netns is made a shared mount point once, so a
 * netns bind-mounted here by us is seen by every mount namespace that
 * mounted /run (containerd, the shim) and not pinned in ours only.
 */
static int
netns_dir_prepare(void)
{
	int rc;

	if (mkdir(PRIVNET_NETNS_DIR, 0755) == -1 && errno != EEXIST)
		return -1;
	rc = mount("", PRIVNET_NETNS_DIR, "none", MS_SHARED | MS_REC, NULL);
	if (rc == -1 && errno == EINVAL) {
		/* Not a mount point yet: make it one, then shared. */
		if (mount(PRIVNET_NETNS_DIR, PRIVNET_NETNS_DIR, "none",
		        MS_BIND | MS_REC, NULL) == -1)
			return -1;
		rc = mount(
		    "", PRIVNET_NETNS_DIR, "none", MS_SHARED | MS_REC, NULL);
	}
	return rc;
}

int
netns_create(const char *path, struct qb_error *err)
{
	int fd = -1, saved = -1;

	if (netns_dir_prepare() == -1)
		return qb_seterr(err, QB_E_INTERNAL, "prepare %s: %s",
		    PRIVNET_NETNS_DIR, strerror(errno));
	if ((fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0)) == -1)
		return qb_seterr(err,
		    errno == EEXIST ? QB_E_EXISTS : QB_E_INTERNAL,
		    "create %s: %s", path, strerror(errno));
	close(fd);
	if ((saved = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC)) == -1)
		goto fail;
	if (unshare(CLONE_NEWNET) == -1)
		goto fail;
	if (mount("/proc/self/ns/net", path, "none", MS_BIND, NULL) == -1) {
		int e = errno;
		netns_leave(saved);
		saved = -1;
		errno = e;
		goto fail;
	}
	netns_leave(saved);
	return 0;
fail:
	qb_seterr(
	    err, QB_E_INTERNAL, "create netns %s: %s", path, strerror(errno));
	if (saved != -1)
		close(saved);
	unlink(path);
	return -1;
}

int
netns_remove(const char *path)
{
	/* MNT_DETACH: a plugin still inside must not keep the name busy. */
	if (umount2(path, MNT_DETACH) == -1 && errno != EINVAL &&
	    errno != ENOENT)
		log_warn("%s: umount %s", __func__, path);
	if (unlink(path) == -1 && errno != ENOENT)
		return -1;
	return 0;
}

int
netns_check(const char *path)
{
	struct statfs sfs;
	int fd, type;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1)
		return -1;
	if (fstatfs(fd, &sfs) == -1)
		goto fail;
	if ((unsigned long)sfs.f_type != (unsigned long)NSFS_MAGIC) {
		errno = EINVAL;
		goto fail;
	}
	if ((type = ioctl(fd, NS_GET_NSTYPE)) == -1)
		goto fail;
	if (type != CLONE_NEWNET) {
		errno = EINVAL;
		goto fail;
	}
	close(fd);
	return 0;
fail:
	close(fd);
	return -1;
}

int
netns_enter(const char *path, int *saved)
{
	int fd;

	*saved = -1;
	if (netns_check(path) == -1)
		return -1;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1)
		return -1;
	if ((*saved = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC)) == -1)
		goto fail;
	if (setns(fd, CLONE_NEWNET) == -1)
		goto fail;
	close(fd);
	return 0;
fail:
	close(fd);
	if (*saved != -1)
		close(*saved);
	*saved = -1;
	return -1;
}

void
netns_leave(int saved)
{
	if (setns(saved, CLONE_NEWNET) == -1)
		fatal("%s: setns back to the host netns", __func__);
	close(saved);
}

static int
same_inode(const char *path, const struct stat *ns)
{
	struct stat st;

	return stat(path, &st) == 0 && st.st_dev == ns->st_dev &&
	       st.st_ino == ns->st_ino;
}

/* pid is inside the netns, or has an fd open on it (a CNI plugin holds one
 * while it works in there). */
static int
proc_uses_netns(const char *pid, const struct stat *ns)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *d;
	int found = 0;

	snprintf(path, sizeof(path), "/proc/%s/ns/net", pid);
	if (same_inode(path, ns))
		return 1;
	snprintf(path, sizeof(path), "/proc/%s/fd", pid);
	if ((d = opendir(path)) == NULL)
		return 0;
	while (!found && (de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if ((size_t)snprintf(path, sizeof(path), "/proc/%s/fd/%s", pid,
		        de->d_name) >= sizeof(path))
			continue;
		found = same_inode(path, ns);
	}
	closedir(d);
	return found;
}

int
netns_count_users(const char *path)
{
	struct stat ns;
	struct dirent *de;
	char self[32];
	DIR *d;
	int n = 0;

	if (netns_check(path) == -1 || stat(path, &ns) == -1)
		return -1;
	if ((d = opendir("/proc")) == NULL)
		return -1;
	snprintf(self, sizeof(self), "%ld", (long)getpid());
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] < '1' || de->d_name[0] > '9' ||
		    strspn(de->d_name, "0123456789") != strlen(de->d_name) ||
		    strcmp(de->d_name, self) == 0)
			continue;
		n += proc_uses_netns(de->d_name, &ns);
	}
	closedir(d);
	return n;
}
