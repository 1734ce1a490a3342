/*
 * Layer disks -> overlayfs rootfs (guest/agent_rootfs.h).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include "guest/agent_rootfs.h"
#include "lib/evloop.h"
#include "lib/log.h"

#define ROOTFS_MAX_LAYERS   128
#define DEFAULT_TMPFS_MB    1024
#define ROOTFS_DISK_WAIT_MS 20000 /* wall time; see rootfs_find_disk */

/* linux/ext4.h is not installed by every libc's kernel headers. */
#ifndef EXT4_IOC_RESIZE_FS
#define EXT4_IOC_RESIZE_FS _IOW('f', 16, uint64_t)
#endif

/* sysfs file path into buf (NUL-terminated); bytes read or -1. */
static ssize_t
read_sysfs(const char *path, char *buf, size_t len)
{
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	return n;
}

/*
 * A disk's serial: virtio-blk has /sys/block/X/serial; a SCSI disk (a pod's
 * hot-added LUN) has it in VPD page 0x80, after a 4-byte header.
 */
static int
read_serial(const char *name, char *buf, size_t len)
{
	char path[PATH_MAX], raw[128];
	ssize_t n;
	size_t i, plen;

	snprintf(path, sizeof(path), "/sys/block/%s/serial", name);
	if ((n = read_sysfs(path, buf, len)) == -1) {
		snprintf(
		    path, sizeof(path), "/sys/block/%s/device/vpd_pg80", name);
		if ((n = read_sysfs(path, raw, sizeof(raw))) < 4)
			return -1;
		plen = ((size_t)(unsigned char)raw[2] << 8) |
		       (unsigned char)raw[3];
		if (plen > (size_t)n - 4)
			plen = (size_t)n - 4;
		if (plen >= len)
			plen = len - 1;
		for (i = 0; i < plen; i++)
			buf[i] = raw[4 + i];
		n = (ssize_t)plen;
	}
	while (n > 0 &&
	       (buf[n - 1] == '\n' || buf[n - 1] == ' ' || buf[n - 1] == '\0'))
		n--;
	buf[n] = '\0';
	return 0;
}

/*
 * wait_ms is wall time: under TCG on a loaded host a 20 ms sleep can take
 * far longer, and a hot-added SCSI LUN appears only after the kernel's
 * rescan, which took tens of seconds at load 30 (docs/STORAGE.md).
 */
/*
 * devtmpfs creates the node asynchronously, and a hot-added SCSI disk is
 * listed in /sys/block a moment before it opens (ENXIO: sd still probing;
 * seen at load 10 as "mount layer 0 (/dev/sda erofs): No such device or
 * address"). Wait, until deadline, for an open that works.
 */
static int
disk_ready(const char *dev, uint64_t deadline)
{
	struct timespec tick = {0, 20 * 1000000};
	int fd;

	for (;;) {
		if ((fd = open(dev, O_RDONLY | O_CLOEXEC)) != -1) {
			close(fd);
			return 0;
		}
		if ((errno != ENOENT && errno != ENXIO && errno != ENOMEDIUM) ||
		    evloop_now_ns() / 1000000 >= deadline)
			return -1;
		nanosleep(&tick, NULL);
	}
}

int
rootfs_find_disk(const char *serial, char *out, size_t outlen, unsigned wait_ms)
{
	struct timespec tick = {0, 20 * 1000000};
	uint64_t deadline = evloop_now_ns() / 1000000 + wait_ms;
	char buf[64];
	struct dirent *de;
	DIR *d;

	for (;;) {
		if ((d = opendir("/sys/block")) != NULL) {
			while ((de = readdir(d)) != NULL) {
				if (de->d_name[0] == '.')
					continue;
				if (read_serial(de->d_name, buf, sizeof(buf)) ==
				        0 &&
				    strcmp(buf, serial) == 0) {
					snprintf(
					    out, outlen, "/dev/%s", de->d_name);
					closedir(d);
					return disk_ready(out, deadline);
				}
			}
			closedir(d);
		}
		if (evloop_now_ns() / 1000000 >= deadline) {
			errno = ENOENT;
			return -1;
		}
		nanosleep(&tick, NULL);
	}
}

static int
mkdir_p(const char *path, mode_t mode)
{
	char tmp[PATH_MAX];
	char *p;

	if (snprintf(tmp, sizeof(tmp), "%s", path) >= (int)sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	for (p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, mode) == -1 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (mkdir(tmp, mode) == -1 && errno != EEXIST)
		return -1;
	return 0;
}

/*
 * The host sends a copy of a small ext4 template on a disk of the configured
 * size (it cannot format one); grow the filesystem to the whole disk, online.
 */
static int
scratch_grow(const char *dev, const char *mnt, struct qb_error *err)
{
	uint64_t bytes = 0, blocks;
	struct statfs sf;
	int fd;

	if ((fd = open(dev, O_RDONLY | O_CLOEXEC)) == -1 ||
	    ioctl(fd, BLKGETSIZE64, &bytes) == -1) {
		qb_seterr(err, QB_E_INTERNAL, "scratch %s: size: %s", dev,
		    strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	close(fd);
	if ((fd = open(mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1 ||
	    fstatfs(fd, &sf) == -1 || sf.f_bsize <= 0) {
		qb_seterr(err, QB_E_INTERNAL, "scratch %s: statfs: %s", mnt,
		    strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	blocks = bytes / (uint64_t)sf.f_bsize;
	if (blocks > (uint64_t)sf.f_blocks &&
	    ioctl(fd, EXT4_IOC_RESIZE_FS, &blocks) == -1) {
		qb_seterr(err, QB_E_INTERNAL,
		    "scratch %s: grow to %llu blocks: %s", dev,
		    (unsigned long long)blocks, strerror(errno));
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

int
rootfs_mount(const char *dir, const struct rootfs_layer *layers, size_t n,
    const char *scratch_serial, uint64_t tmpfs_mb, struct qb_error *err)
{
	char path[PATH_MAX], dev[PATH_MAX], upper[PATH_MAX], work[PATH_MAX];
	char opts[8192], data[64];
	size_t i, off;
	const char *fstype;

	if (n == 0 || n > ROOTFS_MAX_LAYERS)
		return qb_seterr(err, QB_E_INVALID,
		    "rootfs: %zu layers (1..%d)", n, ROOTFS_MAX_LAYERS);
	for (i = 0; i < n; i++) {
		fstype = layers[i].fstype && layers[i].fstype[0]
		             ? layers[i].fstype
		             : "erofs";
		if (strcmp(fstype, "erofs") != 0 && strcmp(fstype, "ext4") != 0)
			return qb_seterr(err, QB_E_INVALID,
			    "layer %zu: fstype %s", i, fstype);
		if (rootfs_find_disk(layers[i].serial, dev, sizeof(dev),
		        ROOTFS_DISK_WAIT_MS) == -1) {
			qb_seterr(err, QB_E_NOTFOUND,
			    "layer %zu: no disk with serial %s", i,
			    layers[i].serial);
			goto fail;
		}
		snprintf(path, sizeof(path), "%s/layers/%zu", dir, i);
		if (mkdir_p(path, 0755) == -1 ||
		    mount(dev, path, fstype, MS_RDONLY | MS_NODEV, NULL) ==
		        -1) {
			qb_seterr(err, QB_E_INTERNAL,
			    "mount layer %zu (%s %s): %s", i, dev, fstype,
			    strerror(errno));
			goto fail;
		}
	}
	snprintf(path, sizeof(path), "%s/rw", dir);
	if (mkdir_p(path, 0755) == -1)
		goto fail_errno;
	if (scratch_serial != NULL && scratch_serial[0] != '\0') {
		if (rootfs_find_disk(scratch_serial, dev, sizeof(dev),
		        ROOTFS_DISK_WAIT_MS) == -1) {
			qb_seterr(err, QB_E_NOTFOUND,
			    "no scratch disk with serial %s", scratch_serial);
			goto fail;
		}
		if (mount(dev, path, "ext4", MS_NODEV, NULL) == -1) {
			qb_seterr(err, QB_E_INTERNAL, "mount scratch %s: %s",
			    dev, strerror(errno));
			goto fail;
		}
		if (scratch_grow(dev, path, err) == -1)
			goto fail;
	} else {
		snprintf(data, sizeof(data), "size=%llum,mode=0755",
		    (unsigned long long)(tmpfs_mb ? tmpfs_mb
		                                  : DEFAULT_TMPFS_MB));
		if (mount("tmpfs", path, "tmpfs", MS_NODEV, data) == -1) {
			qb_seterr(err, QB_E_INTERNAL, "mount tmpfs upper: %s",
			    strerror(errno));
			goto fail;
		}
	}
	snprintf(upper, sizeof(upper), "%s/rw/upper", dir);
	snprintf(work, sizeof(work), "%s/rw/work", dir);
	if (mkdir_p(upper, 0755) == -1 || mkdir_p(work, 0755) == -1)
		goto fail_errno;
	/* overlayfs lists lowerdir top first; layers[] is lowest first. */
	off = (size_t)snprintf(opts, sizeof(opts), "lowerdir=");
	for (i = n; i-- > 0;) {
		off += (size_t)snprintf(opts + off, sizeof(opts) - off,
		    "%s%s/layers/%zu", i == n - 1 ? "" : ":", dir, i);
		if (off >= sizeof(opts))
			goto toolong;
	}
	off += (size_t)snprintf(opts + off, sizeof(opts) - off,
	    ",upperdir=%s,workdir=%s", upper, work);
	if (off >= sizeof(opts))
		goto toolong;
	snprintf(path, sizeof(path), "%s/rootfs", dir);
	if (mkdir_p(path, 0755) == -1)
		goto fail_errno;
	if (mount("overlay", path, "overlay", 0, opts) == -1) {
		qb_seterr(
		    err, QB_E_INTERNAL, "mount overlay: %s", strerror(errno));
		goto fail;
	}
	return 0;
toolong:
	qb_seterr(err, QB_E_INVALID, "rootfs: overlay options too long");
	goto fail;
fail_errno:
	qb_seterr(err, QB_E_INTERNAL, "rootfs: %s", strerror(errno));
fail:
	rootfs_unmount(dir, n);
	return -1;
}

static void
umount_rm(const char *path)
{
	if (umount2(path, 0) == -1 && errno == EBUSY)
		(void)umount2(path, MNT_DETACH);
	(void)rmdir(path);
}

void
rootfs_unmount(const char *dir, size_t nlayers)
{
	char path[PATH_MAX];
	size_t i;

	snprintf(path, sizeof(path), "%s/rootfs", dir);
	umount_rm(path);
	snprintf(path, sizeof(path), "%s/rw", dir);
	umount_rm(path);
	for (i = 0; i < nlayers; i++) {
		snprintf(path, sizeof(path), "%s/layers/%zu", dir, i);
		umount_rm(path);
	}
	snprintf(path, sizeof(path), "%s/layers", dir);
	(void)rmdir(path);
}

int
rootfs_volumes_mount(const char *tag, struct qb_error *err)
{
	static bool mounted;
	const char *p;

	if (tag == NULL || tag[0] == '\0' || mounted)
		return 0;
	for (p = tag; *p != '\0'; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
		        *p == '-') ||
		    p - tag >= 36)
			return qb_seterr(err, QB_E_INVALID, "volumes tag");
	if (mkdir_p(ROOTFS_VOLUMES_DIR, 0755) == -1)
		return qb_seterr(err, QB_E_INTERNAL, "mkdir %s: %s",
		    ROOTFS_VOLUMES_DIR, strerror(errno));
	/* No setuid or device files from the host, whatever they hold. */
	if (mount(tag, ROOTFS_VOLUMES_DIR, "virtiofs", MS_NOSUID | MS_NODEV,
	        NULL) == -1)
		return qb_seterr(err, QB_E_INTERNAL,
		    "mount virtio-fs %s on %s: %s", tag, ROOTFS_VOLUMES_DIR,
		    strerror(errno));
	mounted = true;
	return 0;
}
