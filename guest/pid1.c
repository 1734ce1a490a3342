/*
 * PID 1 set-up for the guest. Runs first in a VM booted from our initrd, so
 * nothing exists yet: no /proc, no /dev, no modules. Order matters:
 *   1. signals blocked first, so no child exit and no ctrl-alt-del is lost;
 *   2. root moved off the initramfs before anything is mounted under it (a
 *      tmpfs root is a real mount; rootfs is not and crun's pivot_root fails
 *      on it with EINVAL);
 *   3. the API file systems, console, cgroups;
 *   4. modules (they need /sys only for the devices they create);
 *   5. the host channel, bounded wait.
 */
#include "guest/pid1.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/epoll.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/input.h>
#include <linux/vm_sockets.h>

#include "guest/gfile.h"
#include "lib/log.h"

#define NEWROOT         "/.qemubox-root"
#define PORT_DEFAULT    "qemubox.0"
#define VSOCK_PORT_DEF  1024
#define CHAN_TIMEOUT_MS 10000
#define COPY_BUF        65536
#define PID1_POWER_MAX  4

static sigset_t pid1_blocked;
/* Behind the one fd the caller polls (pid1_info.sig_fd, an epoll set). */
static int pid1_sigfd = -1;
static int pid1_powerfd[PID1_POWER_MAX];
static int pid1_npower;
/*
 * /lib/modules of the initramfs, left there by root_move (copying ~3 MiB
 * of modules that are loaded once and then freed costs boot time): the
 * modules load from it, then modules_lock() empties it.
 */
static int pid1_modules_fd = -1;

static uint64_t
boottime_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int
signals_block(int *sig_fd)
{
	struct epoll_event ev;
	int fd, ep;

	sigemptyset(&pid1_blocked);
	sigaddset(&pid1_blocked, SIGCHLD);
	sigaddset(&pid1_blocked, SIGTERM);
	sigaddset(&pid1_blocked, SIGINT);
	sigaddset(&pid1_blocked, SIGPWR);
	sigaddset(&pid1_blocked, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &pid1_blocked, NULL) == -1) {
		log_warn("%s: sigprocmask", __func__);
		return -1;
	}
	fd = signalfd(-1, &pid1_blocked, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd == -1) {
		log_warn("%s: signalfd", __func__);
		return -1;
	}
	/* ctrl-alt-del becomes SIGINT to us, not an instant reboot. */
	if (reboot(RB_DISABLE_CAD) == -1)
		log_warn("%s: reboot(RB_DISABLE_CAD)", __func__);
	if ((ep = epoll_create1(EPOLL_CLOEXEC)) == -1) {
		log_warn("%s: epoll_create1", __func__);
		close(fd);
		return -1;
	}
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	ev.data.fd = fd;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == -1) {
		log_warn("%s: epoll_ctl", __func__);
		close(fd);
		close(ep);
		return -1;
	}
	pid1_sigfd = fd;
	*sig_fd = ep;
	return 0;
}

/*
 * The ACPI power button (QEMU system_powerdown, the host's graceful stop)
 * reaches user space only as an input event: watch the devices with
 * KEY_POWER. Needs the button and evdev modules loaded.
 */
static void
power_button_watch(int ep)
{
	unsigned long keys[KEY_MAX / (8 * sizeof(unsigned long)) + 1];
	struct epoll_event ev;
	char path[64];
	int i, fd;
	size_t bits = 8 * sizeof(unsigned long);

	for (i = 0; i < 32 && pid1_npower < PID1_POWER_MAX; i++) {
		snprintf(path, sizeof(path), "/dev/input/event%d", i);
		if ((fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)) ==
		    -1) {
			if (errno == ENOENT)
				break;
			continue;
		}
		memset(keys, 0, sizeof(keys));
		if (ioctl(fd, EVIOCGBIT(EV_KEY, sizeof(keys)), keys) == -1 ||
		    !(keys[KEY_POWER / bits] & (1UL << (KEY_POWER % bits)))) {
			close(fd);
			continue;
		}
		memset(&ev, 0, sizeof(ev));
		ev.events = EPOLLIN;
		ev.data.fd = fd;
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == -1) {
			log_warn("%s: epoll_ctl %s", __func__, path);
			close(fd);
			continue;
		}
		pid1_powerfd[pid1_npower++] = fd;
		log_debug("%s: %s", __func__, path);
	}
	if (pid1_npower == 0)
		log_warnx("%s: no power button: ACPI shutdown will not work",
		    __func__);
}

/* 1 when the power button was pressed. Drains every watched device. */
static int
power_button_pressed(void)
{
	struct input_event ie;
	ssize_t n;
	int i, pressed = 0;

	for (i = 0; i < pid1_npower; i++) {
		while ((n = read(pid1_powerfd[i], &ie, sizeof(ie))) ==
		       (ssize_t)sizeof(ie)) {
			if (ie.type == EV_KEY && ie.code == KEY_POWER &&
			    ie.value == 1)
				pressed = 1;
		}
	}
	return pressed;
}

void
pid1_child_reset(void)
{
	struct sigaction sa;
	int sig;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	for (sig = 1; sig < NSIG; sig++)
		(void)sigaction(sig, &sa, NULL);
	(void)sigprocmask(SIG_UNBLOCK, &pid1_blocked, NULL);
	/* The agent runs SCHED_BATCH (guest/agent.c); its children do not. */
	(void)sched_setscheduler(0, SCHED_OTHER, &(struct sched_param){0});
}

/* ---- moving the root off the initramfs ---- */

static int copy_tree(int src, int dst, dev_t dev, ino_t keep);

int
pid1_copy_tree(int src, int dst, ino_t keep)
{
	struct stat st;

	if (fstat(src, &st) == -1)
		return -1;
	return copy_tree(src, dst, st.st_dev, keep);
}

static int
copy_file(int src, int dst, const char *name, const struct stat *st)
{
	char *buf = NULL;
	int in = -1, out = -1, rc = -1;
	ssize_t n, w, off;

	if ((in = openat(src, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1)
		goto fail;
	if ((out = openat(dst, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	         st->st_mode & 07777)) == -1)
		goto fail;
	if ((buf = malloc(COPY_BUF)) == NULL)
		goto fail;
	for (;;) {
		n = read(in, buf, COPY_BUF);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			goto fail;
		if (n == 0)
			break;
		for (off = 0; off < n; off += w) {
			w = write(out, buf + off, (size_t)(n - off));
			if (w == -1 && errno == EINTR)
				w = 0;
			else if (w == -1)
				goto fail;
		}
	}
	/* The umask must not change what the initrd says. */
	if (fchmod(out, st->st_mode & 07777) == -1)
		goto fail;
	rc = 0;
fail:
	free(buf);
	if (in != -1)
		close(in);
	if (out != -1)
		close(out);
	return rc;
}

static int
copy_entry(int src, int dst, const char *name, dev_t dev, ino_t keep)
{
	struct stat st;
	char target[PATH_MAX];
	ssize_t n;
	int s = -1, d = -1, rc = -1;

	if (fstatat(src, name, &st, AT_SYMLINK_NOFOLLOW) == -1)
		return -1;
	/* Another file system (the new root itself): not ours to copy; the
	 * directory to keep stays where it is. */
	if (st.st_dev != dev || (keep != 0 && st.st_ino == keep))
		return 0;
	switch (st.st_mode & S_IFMT) {
	case S_IFDIR:
		if (mkdirat(dst, name, st.st_mode & 07777) == -1 &&
		    errno != EEXIST)
			return -1;
		if ((s = openat(src, name,
		         O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW)) ==
		    -1)
			goto out;
		if ((d = openat(dst, name,
		         O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW)) ==
		    -1)
			goto out;
		if (copy_tree(s, d, dev, keep) == -1)
			goto out;
		if (fchmod(d, st.st_mode & 07777) == -1)
			goto out;
		(void)unlinkat(src, name, AT_REMOVEDIR);
		rc = 0;
		goto out;
	case S_IFREG:
		if (copy_file(src, dst, name, &st) == -1)
			return -1;
		break;
	case S_IFLNK:
		n = readlinkat(src, name, target, sizeof(target) - 1);
		if (n == -1)
			return -1;
		target[n] = '\0';
		if (symlinkat(target, dst, name) == -1)
			return -1;
		break;
	default:
		/* /dev/console of the kernel's built-in initramfs. */
		if (mknodat(dst, name, st.st_mode, st.st_rdev) == -1)
			return -1;
		break;
	}
	/* Free the initramfs copy as we go: peak memory stays one file. */
	(void)unlinkat(src, name, 0);
	return 0;
out:
	if (s != -1)
		close(s);
	if (d != -1)
		close(d);
	return rc;
}

static int
copy_tree(int src, int dst, dev_t dev, ino_t keep)
{
	DIR *dir;
	struct dirent *de;
	int fd, rc = 0;

	if ((fd = dup(src)) == -1)
		return -1;
	if ((dir = fdopendir(fd)) == NULL) {
		close(fd);
		return -1;
	}
	while ((de = readdir(dir)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (copy_entry(src, dst, de->d_name, dev, keep) == -1) {
			log_warn("%s: %s", __func__, de->d_name);
			rc = -1;
			break;
		}
	}
	closedir(dir);
	return rc;
}

static int
root_move(void)
{
	struct stat st;
	int src = -1, dst = -1, rc = -1;

	if (mkdir(NEWROOT, 0755) == -1 && errno != EEXIST) {
		log_warn("%s: mkdir %s", __func__, NEWROOT);
		return -1;
	}
	if (mount("tmpfs", NEWROOT, "tmpfs", 0, "mode=0755") == -1) {
		log_warn("%s: mount tmpfs %s", __func__, NEWROOT);
		return -1;
	}
	if ((src = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1 ||
	    (dst = open(NEWROOT, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		log_warn("%s: open", __func__);
		goto out;
	}
	/* No /lib/modules (an image without modules): nothing to keep. */
	if ((pid1_modules_fd = open("/lib/modules",
	         O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW)) != -1 &&
	    fstat(pid1_modules_fd, &st) == -1) {
		close(pid1_modules_fd);
		pid1_modules_fd = -1;
	}
	if (pid1_copy_tree(src, dst, pid1_modules_fd != -1 ? st.st_ino : 0) ==
	    -1)
		goto out;
	/* switch_root: the tmpfs becomes /, the emptied rootfs stays below. */
	if (fchdir(dst) == -1 || mount(".", "/", NULL, MS_MOVE, NULL) == -1 ||
	    chroot(".") == -1 || chdir("/") == -1) {
		log_warn("%s: switch root", __func__);
		goto out;
	}
	rc = 0;
out:
	if (src != -1)
		close(src);
	if (dst != -1)
		close(dst);
	return rc;
}

/* ---- API file systems, console, cgroups ---- */

struct pid1_mount {
	const char *src, *dir, *type;
	unsigned long flags;
	const char *data;
	int optional;
};

static const struct pid1_mount pid1_mounts[] = {
    {"proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, 0},
    {"sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, 0},
    {"devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755", 0},
    {"devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
        "mode=0620,ptmxmode=0666,gid=5", 0},
    {"shm", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777", 0},
    {"tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755", 0},
    {"tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777", 0},
    {"cgroup2", "/sys/fs/cgroup", "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC,
        "nsdelegate", 0},
};

static int
mounts_setup(void)
{
	size_t i;
	const struct pid1_mount *m;

	for (i = 0; i < sizeof(pid1_mounts) / sizeof(pid1_mounts[0]); i++) {
		m = &pid1_mounts[i];
		if (mkdir(m->dir, 0755) == -1 && errno != EEXIST) {
			log_warn("%s: mkdir %s", __func__, m->dir);
			return -1;
		}
		if (mount(m->src, m->dir, m->type, m->flags, m->data) == -1) {
			log_warn(
			    "%s: mount %s on %s", __func__, m->type, m->dir);
			if (!m->optional)
				return -1;
		}
	}
	if (symlink("/proc/self/fd", "/dev/fd") == -1 && errno != EEXIST)
		log_warn("%s: symlink /dev/fd", __func__);
	return 0;
}

static int
console_setup(void)
{
	int fd;

	fd = open("/dev/console", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (fd == -1)
		return -1;
	(void)dup2(fd, STDIN_FILENO);
	(void)dup2(fd, STDOUT_FILENO);
	(void)dup2(fd, STDERR_FILENO);
	if (fd > STDERR_FILENO)
		close(fd);
	return 0;
}

/*
 * Without a console (console=hvc0 before virtio_console is loaded) the
 * kernel starts us with fds 0-2 closed: hold them, or the signalfd would
 * become fd 0 and be replaced by the console later.
 */
static void
stdio_hold(void)
{
	int i;

	for (i = STDIN_FILENO; i <= STDERR_FILENO; i++)
		if (fcntl(i, F_GETFD) == -1 && errno == EBADF)
			(void)open("/", O_RDONLY | O_DIRECTORY);
}

/* Write the string s to an existing kernel file (sysctl, cgroup). */
static int
write_str(const char *path, const char *s)
{
	return gfile_write(path, s, strlen(s), 0, 0);
}

static void
cgroups_delegate(void)
{
	static const char *const wanted[] = {
	    "cpuset",
	    "cpu",
	    "io",
	    "memory",
	    "pids",
	    "hugetlb",
	    "misc",
	};
	char avail[512], op[32], *tok, *save;
	size_t i;

	if (gfile_read("/sys/fs/cgroup/cgroup.controllers", avail,
	        sizeof(avail)) == -1) {
		log_warn("%s: cgroup.controllers", __func__);
		return;
	}
	/* One write per controller: one that fails must not hide the others. */
	for (i = 0; i < sizeof(wanted) / sizeof(wanted[0]); i++) {
		char copy[512];
		int found = 0;

		snprintf(copy, sizeof(copy), "%s", avail);
		for (tok = strtok_r(copy, " \n", &save); tok != NULL;
		     tok = strtok_r(NULL, " \n", &save))
			if (strcmp(tok, wanted[i]) == 0)
				found = 1;
		if (!found)
			continue;
		snprintf(op, sizeof(op), "+%s", wanted[i]);
		if (write_str("/sys/fs/cgroup/cgroup.subtree_control", op) ==
		    -1)
			log_warn("%s: enable %s", __func__, wanted[i]);
	}
}

static void
loopback_up(void)
{
	struct ifreq ifr;
	int s;

	if ((s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1) {
		log_warn("%s: socket", __func__);
		return;
	}
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", "lo");
	if (ioctl(s, SIOCGIFFLAGS, &ifr) == -1)
		log_warn("%s: SIOCGIFFLAGS", __func__);
	else {
		ifr.ifr_flags |= IFF_UP;
		if (ioctl(s, SIOCSIFFLAGS, &ifr) == -1)
			log_warn("%s: SIOCSIFFLAGS", __func__);
	}
	close(s);
}

/* ---- kernel command line ---- */

static int
parse_uint(const char *s, unsigned max, unsigned *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v > max)
		return -1;
	*out = (unsigned)v;
	return 0;
}

void
pid1_cmdline_parse(char *line, struct pid1_cmdline *c)
{
	char *tok, *save, *val;

	memset(c, 0, sizeof(*c));
	c->transport = PID1_TRANSPORT_VIRTIO_SERIAL;
	snprintf(c->port, sizeof(c->port), "%s", PORT_DEFAULT);
	c->vsock_port = VSOCK_PORT_DEF;
	c->chan_timeout_ms = CHAN_TIMEOUT_MS;
	snprintf(c->hostname, sizeof(c->hostname), "%s", "qemubox");

	for (tok = strtok_r(line, " \t\n", &save); tok != NULL;
	     tok = strtok_r(NULL, " \t\n", &save)) {
		if ((val = strchr(tok, '=')) == NULL)
			continue;
		if (strncmp(tok, "page_reporting.page_reporting_order=", 36) ==
		    0) {
			if (parse_uint(val + 1, 10, &c->page_reporting_order) ==
			    -1)
				log_warnx("%s: bad page_reporting_order %s",
				    __func__, val + 1);
			continue;
		}
		if (strncmp(tok, "qemubox.", 8) != 0)
			continue;
		*val++ = '\0';
		if (strcmp(tok, "qemubox.transport") == 0) {
			if (strcmp(val, "vsock") == 0)
				c->transport = PID1_TRANSPORT_VSOCK;
			else if (strcmp(val, "virtio-serial") == 0)
				c->transport = PID1_TRANSPORT_VIRTIO_SERIAL;
			else
				log_warnx(
				    "%s: unknown transport %s", __func__, val);
		} else if (strcmp(tok, "qemubox.port") == 0) {
			if (*val != '\0' && strlen(val) < sizeof(c->port))
				snprintf(c->port, sizeof(c->port), "%s", val);
		} else if (strcmp(tok, "qemubox.vsock_port") == 0) {
			if (parse_uint(val, 0xfffffffeU, &c->vsock_port) == -1)
				log_warnx(
				    "%s: bad vsock_port %s", __func__, val);
		} else if (strcmp(tok, "qemubox.chan_timeout_ms") == 0) {
			if (parse_uint(val, 600000, &c->chan_timeout_ms) == -1)
				log_warnx("%s: bad chan_timeout_ms %s",
				    __func__, val);
		} else if (strcmp(tok, "qemubox.hostname") == 0) {
			if (*val != '\0' && strlen(val) < sizeof(c->hostname))
				snprintf(c->hostname, sizeof(c->hostname), "%s",
				    val);
		} else if (strcmp(tok, "qemubox.debug") == 0) {
			c->debug = strcmp(val, "0") != 0;
		} else if (strcmp(tok, "qemubox.modules") == 0) {
			if (strlen(val) < sizeof(c->modules)) {
				snprintf(
				    c->modules, sizeof(c->modules), "%s", val);
				c->modules_given = 1;
			} else
				log_warnx(
				    "%s: modules list too long", __func__);
		}
	}
}

/* ---- modules ---- */

int
pid1_modules_want(const struct pid1_cmdline *c, const char *group)
{
	const char *p = c->modules;
	size_t glen = strlen(group), len;

	if (!c->modules_given || glen == 0)
		return 1;
	while (*p != '\0') {
		len = strcspn(p, ",");
		if (len == glen && strncmp(p, group, len) == 0)
			return 1;
		p += len;
		if (*p == ',')
			p++;
	}
	return 0;
}

/*
 * Load the modules of qemubox.order ("path [group]" per line, dependencies
 * first), those of a group only when the command line asks for it.
 */
static int
modules_load(const char *release, const struct pid1_cmdline *c)
{
	char path[PATH_MAX], line[PATH_MAX];
	FILE *f;
	char *group;
	size_t len;
	uint64_t t;
	int dir, fd, loaded = 0, failed = 0, skipped = 0;

	if (snprintf(path, sizeof(path), "/lib/modules/%s", release) >=
	    (int)sizeof(path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if (pid1_modules_fd == -1 ||
	    (dir = openat(pid1_modules_fd, release,
	         O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW)) == -1) {
		log_warn("%s: %s", __func__, path);
		return -1;
	}
	if ((fd = openat(dir, "qemubox.order", O_RDONLY | O_CLOEXEC)) == -1 ||
	    (f = fdopen(fd, "r")) == NULL) {
		log_warn("%s: %s/qemubox.order", __func__, path);
		if (fd != -1)
			close(fd);
		close(dir);
		return -1;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		len = strcspn(line, "\n");
		line[len] = '\0';
		if (len == 0)
			continue;
		group = "";
		if ((len = strcspn(line, " ")) < strlen(line)) {
			line[len] = '\0';
			group = line + len + 1;
		}
		if (!pid1_modules_want(c, group)) {
			skipped++;
			continue;
		}
		if ((fd = openat(dir, line, O_RDONLY | O_CLOEXEC)) == -1) {
			log_warn("%s: open %s", __func__, line);
			failed++;
			continue;
		}
		t = boottime_ms();
		if (syscall(SYS_finit_module, fd, "", 0) == -1 &&
		    errno != EEXIST) {
			log_warn("%s: finit_module %s", __func__, line);
			failed++;
		} else
			loaded++;
		log_debug("%s: %s %llu ms", __func__, line,
		    (unsigned long long)(boottime_ms() - t));
		close(fd);
	}
	fclose(f);
	close(dir);
	log_debug("%s: %d loaded, %d failed, %d not needed", __func__, loaded,
	    failed, skipped);
	return 0;
}

/* Remove the tree under dir (an open directory fd, not closed here). */
static void
tree_remove(int dir)
{
	DIR *d;
	struct dirent *de;
	int fd, sub;

	if ((fd = dup(dir)) == -1)
		return;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (de->d_type == DT_DIR) {
			sub = openat(dir, de->d_name,
			    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub != -1) {
				tree_remove(sub);
				close(sub);
			}
			(void)unlinkat(dir, de->d_name, AT_REMOVEDIR);
		} else
			(void)unlinkat(dir, de->d_name, 0);
	}
	closedir(d);
}

/*
 * Every module the guest will have is loaded now: close the door on a
 * container that escapes to the guest root (no module loading, and no
 * request_module() running a /sbin/modprobe it could plant). The module
 * files are of no use any more: they leave the root tmpfs, whose pages
 * are guest RAM for the VM's life (~3 MiB).
 */
static void
modules_lock(void)
{
	if (write_str("/proc/sys/kernel/modprobe", "\n") == -1)
		log_warn("%s: kernel.modprobe", __func__);
	if (write_str("/proc/sys/kernel/modules_disabled", "1") == -1)
		log_warn("%s: kernel.modules_disabled", __func__);
	/* The initramfs' /lib/modules, below the new root: out of reach of
	 * everything but this fd. */
	if (pid1_modules_fd == -1)
		return;
	tree_remove(pid1_modules_fd);
	close(pid1_modules_fd);
	pid1_modules_fd = -1;
}

/*
 * Free page reporting (virtio_balloon) hands free blocks of 2^order pages
 * back to the host. The kernel parameter is the way to ask for another
 * order, but Linux 6.1 overwrites it with the default (9) when the balloon
 * driver registers: write it again now that the driver is loaded.
 */
static void
page_reporting_set(const struct pid1_cmdline *c)
{
	char val[16];

	if (c->page_reporting_order == 0)
		return;
	snprintf(val, sizeof(val), "%u\n", c->page_reporting_order);
	if (write_str("/sys/module/page_reporting/parameters/"
	              "page_reporting_order",
	        val) == -1)
		log_warn("%s: page_reporting_order %u", __func__,
		    c->page_reporting_order);
}

/* ---- host channel ---- */

static void
sleep_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* One scan of /sys/class/virtio-ports: the port named `name`, opened. */
static int
port_find(const char *name, char *path, size_t pathsize)
{
	DIR *dir;
	struct dirent *de;
	char p[PATH_MAX], got[128];
	size_t len;
	int fd = -1;

	if ((dir = opendir("/sys/class/virtio-ports")) == NULL)
		return -1;
	while ((de = readdir(dir)) != NULL) {
		if (strncmp(de->d_name, "vport", 5) != 0)
			continue;
		snprintf(p, sizeof(p), "/sys/class/virtio-ports/%s/name",
		    de->d_name);
		if (gfile_read(p, got, sizeof(got)) == -1)
			continue;
		len = strcspn(got, "\n");
		got[len] = '\0';
		if (strcmp(got, name) != 0)
			continue;
		if (snprintf(path, pathsize, "/dev/%s", de->d_name) >=
		    (int)pathsize)
			break;
		fd = open(path, O_RDWR | O_NOCTTY | O_CLOEXEC);
		if (fd == -1)
			log_warn("%s: open %s", __func__, path);
		break;
	}
	closedir(dir);
	return fd;
}

static int
channel_open(const struct pid1_cmdline *c, struct pid1_info *info)
{
	struct sockaddr_vm sa;
	uint64_t deadline;
	int fd;

	if (c->transport == PID1_TRANSPORT_VSOCK) {
		fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd == -1) {
			log_warn("%s: socket(AF_VSOCK)", __func__);
			return -1;
		}
		memset(&sa, 0, sizeof(sa));
		sa.svm_family = AF_VSOCK;
		sa.svm_cid = VMADDR_CID_ANY;
		sa.svm_port = c->vsock_port;
		if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1 ||
		    listen(fd, 4) == -1) {
			log_warn("%s: vsock port %u", __func__, c->vsock_port);
			close(fd);
			return -1;
		}
		snprintf(info->chan_path, sizeof(info->chan_path), "vsock:%u",
		    c->vsock_port);
		return fd;
	}

	/* The port appears when QEMU sends its name, after driver probe. */
	deadline = boottime_ms() + c->chan_timeout_ms;
	for (;;) {
		fd = port_find(
		    c->port, info->chan_path, sizeof(info->chan_path));
		if (fd != -1)
			break;
		if (boottime_ms() >= deadline) {
			log_warnx("%s: no virtio-serial port named %s after "
			          "%u ms",
			    __func__, c->port, c->chan_timeout_ms);
			errno = ETIMEDOUT;
			return -1;
		}
		sleep_ms(5);
	}
	/*
	 * The name can be visible before QEMU's "host connected" message is
	 * processed, and until then the port reads as EOF (POLLHUP): wait, so
	 * that for the caller EOF or POLLHUP only ever means the host left.
	 */
	for (;;) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN | POLLOUT};

		if (poll(&pfd, 1, 0) == -1 && errno != EINTR) {
			log_warn("%s: poll %s", __func__, info->chan_path);
			break;
		}
		if (!(pfd.revents & POLLHUP))
			break;
		if (boottime_ms() >= deadline) {
			log_warnx("%s: %s: host not connected after %u ms",
			    __func__, info->chan_path, c->chan_timeout_ms);
			break;
		}
		sleep_ms(5);
	}
	return fd;
}

/* ---- the entry points ---- */

int
pid1_setup(struct pid1_info *out, void (*before_channel)(void))
{
	struct pid1_cmdline c;
	struct utsname un;
	char cmdline[4096];
	char ready[80], clocksource[32];
	uint64_t t_init, t_root, t_mounts, t_modules;
	int n, console_ok;

	t_init = boottime_ms();
	memset(out, 0, sizeof(*out));
	out->chan_fd = out->sig_fd = -1;

	if (getpid() != 1) {
		log_warnx("%s: not PID 1", __func__);
		errno = EPERM;
		return -1;
	}
	umask(022);
	stdio_hold();
	if (signals_block(&out->sig_fd) == -1)
		return -1;
	if (root_move() == -1)
		return -1;
	t_root = boottime_ms();
	if (mounts_setup() == -1)
		return -1;
	/* console=hvc0 exists only once virtio_console is loaded. */
	console_ok = console_setup() == 0;

	if (gfile_read("/proc/cmdline", cmdline, sizeof(cmdline)) == -1) {
		log_warn("%s: /proc/cmdline", __func__);
		cmdline[0] = '\0';
	}
	pid1_cmdline_parse(cmdline, &c);
	out->debug = c.debug;
	if (c.debug)
		log_init("vminitd", 1);
	out->transport = c.transport;

	cgroups_delegate();
	if (sethostname(c.hostname, strlen(c.hostname)) == -1)
		log_warn("%s: sethostname", __func__);
	loopback_up();
	t_mounts = boottime_ms();

	if (uname(&un) == -1) {
		log_warn("%s: uname", __func__);
		return -1;
	}
	snprintf(
	    out->kernel_release, sizeof(out->kernel_release), "%s", un.release);
	(void)modules_load(un.release, &c);
	modules_lock();
	page_reporting_set(&c);
	if (!console_ok && console_setup() == -1)
		log_warn("%s: open /dev/console", __func__);
	power_button_watch(out->sig_fd);
	t_modules = boottime_ms();

	if (before_channel != NULL)
		before_channel();

	if ((out->chan_fd = channel_open(&c, out)) == -1)
		return -1;

	out->ready_ms = boottime_ms();
	/* Under TCG the guest can lose tsc (README: tsc=reliable). */
	if (gfile_read("/sys/devices/system/clocksource/clocksource0/"
	               "current_clocksource",
	        clocksource, sizeof(clocksource)) == -1)
		snprintf(clocksource, sizeof(clocksource), "?");
	clocksource[strcspn(clocksource, "\n")] = '\0';
	log_info("%s: channel %s, kernel %s, clocksource %s; ms since boot: "
	         "init %llu, root moved %llu, mounts %llu, modules %llu, "
	         "channel %llu",
	    __func__, out->chan_path, out->kernel_release, clocksource,
	    (unsigned long long)t_init, (unsigned long long)t_root,
	    (unsigned long long)t_mounts, (unsigned long long)t_modules,
	    (unsigned long long)out->ready_ms);
	/* A plain line, so hosts and tests can grep the console for it. */
	n = snprintf(ready, sizeof(ready), "vminitd: ready in %llu ms\n",
	    (unsigned long long)out->ready_ms);
	(void)!write(STDERR_FILENO, ready, (size_t)n);
	return 0;
}

int
pid1_reap(void (*on_exit)(pid_t pid, int wstatus, void *arg), void *arg)
{
	pid_t pid;
	int st, n = 0;

	for (;;) {
		pid = waitpid(-1, &st, WNOHANG);
		if (pid == -1 && errno == EINTR)
			continue;
		if (pid == -1 && errno == ECHILD)
			return n;
		if (pid == -1)
			return -1;
		if (pid == 0)
			return n;
		n++;
		if (on_exit != NULL)
			on_exit(pid, st, arg);
	}
}

int
pid1_signals(const struct pid1_info *info,
    void (*on_exit)(pid_t pid, int wstatus, void *arg), void *arg)
{
	struct signalfd_siginfo si;
	ssize_t n;
	int shutdown = 0, chld = 0;

	for (;;) {
		n = read(pid1_sigfd, &si, sizeof(si));
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			break;
		if (n == -1)
			return -1;
		if ((size_t)n != sizeof(si)) {
			errno = EIO;
			return -1;
		}
		switch (si.ssi_signo) {
		case SIGCHLD:
			chld = 1;
			break;
		case SIGTERM:
		case SIGINT:
		case SIGPWR:
		case SIGHUP:
			log_info("%s: signal %u: shutting down", __func__,
			    si.ssi_signo);
			shutdown = 1;
			break;
		default:
			break;
		}
	}
	(void)info;
	if (power_button_pressed()) {
		log_info("%s: power button: shutting down", __func__);
		shutdown = 1;
	}
	/* Signals coalesce: one SIGCHLD may stand for many exits. */
	if (chld && pid1_reap(on_exit, arg) == -1)
		log_warn("%s: reap", __func__);
	return shutdown;
}

void
pid1_poweroff(void)
{
	log_info("%s: powering off", __func__);
	(void)kill(-1, SIGKILL);
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	sync();
	(void)reboot(RB_POWER_OFF);
	log_warn("%s: reboot(RB_POWER_OFF)", __func__);
	/* With panic=-1 and QEMU's -no-reboot this still ends the VM. */
	(void)reboot(RB_AUTOBOOT);
	for (;;)
		pause();
}
