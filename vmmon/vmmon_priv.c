#include "vmmon/vmmon_priv.h"

#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include <cap-ng.h>
#include <sched.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/kvm.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/ids_drop.h"
#include "lib/log.h"
#include "lib/startprof.h"
#include "vmmon/elf_deps.h"

/* Where Debian's QEMU dlopens its modules (accel-tcg-x86_64.so, ...). */
#define QEMU_MODDIR "/usr/lib/x86_64-linux-gnu/qemu"

/* Our private namespace's /tmp becomes the new root; the host's is untouched.
 */
#define NEWROOT "/tmp"

static unsigned long
tsc_khz_measure(void)
{
	struct timespec a, b, d = {0, 50 * 1000 * 1000};
	uint64_t ta, tb, ns;
	unsigned lo, hi;

	clock_gettime(CLOCK_MONOTONIC_RAW, &a);
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	ta = ((uint64_t)hi << 32) | lo;
	nanosleep(&d, NULL);
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	tb = ((uint64_t)hi << 32) | lo;
	clock_gettime(CLOCK_MONOTONIC_RAW, &b);
	ns = (uint64_t)(b.tv_sec - a.tv_sec) * 1000000000ull +
	     (uint64_t)b.tv_nsec - (uint64_t)a.tv_nsec;
	if (ns == 0 || tb <= ta)
		return 0;
	return (unsigned long)((tb - ta) * 1000000ull / ns);
}

/* mkdir -p below NEWROOT for a path inside the jail. */
static void
mkdirs(const char *path)
{
	char buf[PATH_MAX];
	char *p;

	if (snprintf(buf, sizeof(buf), NEWROOT "%s", path) >= (int)sizeof(buf))
		fatalx("%s: path too long: %s", __func__, path);
	for (p = buf + strlen(NEWROOT) + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) == -1 && errno != EEXIST)
			fatal("%s: mkdir %s", __func__, buf);
		*p = '/';
	}
	if (mkdir(buf, 0755) == -1 && errno != EEXIST)
		fatal("%s: mkdir %s", __func__, buf);
}

/*
 * The jail is planned on the host view first, then built. A source under
 * NEWROOT on the host (e.g. a scratch install in /tmp) is opened (O_PATH)
 * after unshare but before the tmpfs root hides it, and bound from
 * /proc/self/fd/N; any other source is bound by its path.
 */
enum bind_kind { BIND_FILE, BIND_DIR, BIND_DEV };
struct bind {
	char *src;
	char *dst; /* inside the jail */
	enum bind_kind kind;
	int fd;
};

/*
 * On the heap, not in .bss, and freed once the jail stands; the paths are
 * small heap strings (two PATH_MAX arrays per bind touched two pages per
 * library, each a page fault).
 */
#define PLAN_MAX (ELF_DEPS_MAX + 32)
static struct bind *plan;
static size_t nplan;

struct symlink_plan {
	char target[PATH_MAX];
	char path[PATH_MAX];
};
static struct symlink_plan links[4];
static size_t nlinks;

/*
 * Adds a bind; false if an optional source does not exist. A required
 * one that is missing fails the mount, which names it.
 */
static bool
plan_bind(const char *src, const char *dst, enum bind_kind kind, bool optional)
{
	size_t i;

	if (optional && access(src, F_OK) == -1) {
		if (errno == ENOENT)
			return false;
		fatal("%s: %s", __func__, src);
	}
	for (i = 0; i < nplan; i++)
		if (strcmp(plan[i].dst, dst) == 0)
			return true;
	if (nplan == PLAN_MAX)
		fatalx("%s: too many binds", __func__);
	if ((plan[nplan].src = strdup(src)) == NULL ||
	    (plan[nplan].dst = strdup(dst)) == NULL)
		fatal("%s: strdup", __func__);
	plan[nplan].kind = kind;
	plan[nplan].fd = -1;
	nplan++;
	return true;
}

/* /lib and /lib64 are symlinks into /usr on merged-/usr systems. */
static void
plan_libdir(const char *path)
{
	ssize_t n;

	if (nlinks == sizeof(links) / sizeof(links[0]))
		fatalx("%s: too many links", __func__);
	n = readlink(path, links[nlinks].target, PATH_MAX - 1);
	if (n > 0) {
		links[nlinks].target[n] = '\0';
		snprintf(links[nlinks].path, PATH_MAX, "%s", path);
		nlinks++;
		return;
	}
	plan_bind(path, path, BIND_DIR, true);
}

/*
 * A library at the name ld.so looks for, in the jail's copy of its
 * directory: realpath of the directory (merged /usr: /lib -> usr/lib is a
 * symlink in the jail too) + the name (a bind follows the file's symlink).
 */
static void
plan_lib(const char *path)
{
	/* Most libraries share a directory: one realpath per directory. */
	static char last_dir[PATH_MAX], real[PATH_MAX];
	char dir[PATH_MAX], dst[PATH_MAX];
	const char *base;
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	if ((slash = strrchr(dir, '/')) == NULL)
		return;
	*slash = '\0';
	base = path + (slash - dir) + 1;
	if (strcmp(dir, last_dir) != 0 || last_dir[0] == '\0') {
		if (realpath(dir[0] ? dir : "/", real) == NULL)
			fatal("%s: realpath %s", __func__, dir);
		snprintf(last_dir, sizeof(last_dir), "%s", dir);
	}
	if (snprintf(dst, sizeof(dst), "%s/%s", real, base) >= (int)sizeof(dst))
		fatalx("%s: path too long", __func__);
	plan_bind(path, dst, BIND_FILE, false);
}

/*
 * The one loadable module QEMU opens for the machines vmmon builds: the TCG
 * accelerator (strace of a boot: accel-tcg-<arch>.so and nothing else; no
 * display, audio, USB, UI or block back-end is ever asked for with
 * -nodefaults, -display none and our device set). Only it and what it links
 * go into the jail, not the module directory: the other 24 modules and the
 * ~40 libraries they link (spice, gtk, GL) stay out, and the scan and the
 * binds shrink with them. Empty when QEMU has no such module (TCG built in).
 */
static void
module_path(const char *qemu_path, char *out, size_t len)
{
	const char *arch = strrchr(qemu_path, '-');

	out[0] = '\0';
	if (arch == NULL ||
	    snprintf(out, len, "%s/accel-tcg-%s.so", QEMU_MODDIR, arch + 1) >=
	        (int)len ||
	    access(out, F_OK) == -1)
		out[0] = '\0';
}

/* Under NEWROOT on the host: hidden once the tmpfs root is mounted. */
static bool
under_newroot(const char *path)
{
	size_t n = strlen(NEWROOT);

	return strncmp(path, NEWROOT, n) == 0 &&
	       (path[n] == '/' || path[n] == '\0');
}

/*
 * Executes one bind: its mount point (libraries share a few parent
 * directories: each is made once) and the bind. Read-only, nosuid and
 * nodev come later for the whole tree at once (jail_seal()).
 */
static void
do_bind(const struct bind *b)
{
	static char made[PATH_MAX]; /* the last parent made */
	char dst[PATH_MAX + 16], parent[PATH_MAX], src[64], *slash;

	snprintf(dst, sizeof(dst), NEWROOT "%s", b->dst);
	if (b->kind == BIND_DIR)
		mkdirs(b->dst);
	else {
		snprintf(parent, sizeof(parent), "%s", b->dst);
		if ((slash = strrchr(parent, '/')) != NULL && slash != parent) {
			*slash = '\0';
			if (strcmp(parent, made) != 0) {
				mkdirs(parent);
				snprintf(made, sizeof(made), "%s", parent);
			}
		}
		if (mknod(dst, S_IFREG | 0644, 0) == -1 && errno != EEXIST)
			fatal("%s: create %s", __func__, dst);
	}
	if (b->fd != -1)
		snprintf(src, sizeof(src), "/proc/self/fd/%d", b->fd);
	if (mount(b->fd != -1 ? src : b->src, dst, NULL, MS_BIND | MS_REC,
	        NULL) == -1)
		fatal("%s: bind %s", __func__, b->src);
}

/*
 * After pivot_root: the whole tree read-only, nosuid, nodev in one
 * mount_setattr (a bind mount ignores MS_RDONLY on creation; one remount
 * per bind cost two syscalls each), then the exceptions: /proc stays
 * writable as mounted (nosuid, nodev, noexec), device binds allow their
 * device.
 */
static void
jail_seal(void)
{
	struct mount_attr all = {.attr_set = MOUNT_ATTR_RDONLY |
	                                     MOUNT_ATTR_NOSUID |
	                                     MOUNT_ATTR_NODEV};
	struct mount_attr proc = {.attr_clr = MOUNT_ATTR_RDONLY};
	struct mount_attr dev = {.attr_clr = MOUNT_ATTR_NODEV};
	size_t i;

	if (mount_setattr(AT_FDCWD, "/", AT_RECURSIVE, &all, sizeof(all)) == -1)
		fatal("%s: read-only jail", __func__);
	if (mount_setattr(AT_FDCWD, "/proc", 0, &proc, sizeof(proc)) == -1)
		fatal("%s: /proc", __func__);
	for (i = 0; i < nplan; i++)
		if (plan[i].kind == BIND_DEV &&
		    mount_setattr(
		        AT_FDCWD, plan[i].dst, 0, &dev, sizeof(dev)) == -1)
			fatal("%s: %s", __func__, plan[i].dst);
}

static void
build_root(const struct vmmon_jail *j, struct vmmon_jailed *out)
{
	/* Debian's QEMU looks for firmware in these besides its data dir. */
	static const char *const fwdirs[] = {
	    "/usr/share/seabios", "/usr/lib/ipxe/qemu", NULL};
	static const char *const devs[] = {
	    "/dev/null", "/dev/zero", "/dev/urandom", NULL};
	struct elf_deps *deps;
	char dst[PATH_MAX + 16], module[PATH_MAX];
	size_t i;

	/* Planned on the host view. */
	if ((deps = calloc(1, sizeof(*deps))) == NULL ||
	    (plan = calloc(PLAN_MAX, sizeof(*plan))) == NULL)
		fatal("%s: calloc", __func__);
	if (elf_deps_add(deps, j->qemu_path) == -1)
		fatal("%s: %s: shared libraries", __func__, j->qemu_path);
	module_path(j->qemu_path, module, sizeof(module));
	if (module[0] != '\0' && elf_deps_add(deps, module) == -1)
		fatal("%s: %s: shared libraries", __func__, module);
	startprof_mark("elf_scan");
	nplan = nlinks = 0;
	plan_bind(j->qemu_path, j->qemu_path, BIND_FILE, false);
	/* Merged /usr: keep the top-level symlinks so library paths work. */
	plan_libdir("/lib");
	plan_libdir("/lib64");
	for (i = 0; i < deps->n; i++)
		plan_lib(deps->path[i]);
	if (module[0] != '\0')
		plan_bind(module, module, BIND_FILE, false);
	plan_bind(j->qemu_share_path, j->qemu_share_path, BIND_DIR, false);
	for (i = 0; fwdirs[i] != NULL; i++)
		plan_bind(fwdirs[i], fwdirs[i], BIND_DIR, true);
	for (i = 0; devs[i] != NULL; i++)
		plan_bind(devs[i], devs[i], BIND_DEV, false);
	/* Whether the vmmon user may use it is decided by the probe. */
	out->have_kvm_node = plan_bind("/dev/kvm", "/dev/kvm", BIND_DEV, true);
	startprof_mark("plan");

	if (unshare(CLONE_NEWNS) == -1)
		fatal("%s: unshare(CLONE_NEWNS)", __func__);
	/* Nothing we mount may propagate back to the host. */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == -1)
		fatal("%s: make / private", __func__);
	startprof_mark("unshare");
	/* In this namespace (binds need their source mounted here). */
	for (i = 0; i < nplan; i++)
		if (under_newroot(plan[i].src) &&
		    (plan[i].fd = open(plan[i].src, O_PATH | O_CLOEXEC)) == -1)
			fatal("%s: open %s", __func__, plan[i].src);
	if (mount("tmpfs", NEWROOT, "tmpfs", MS_NOSUID,
	        "mode=0755,size=1m,nr_inodes=4096") == -1)
		fatal("%s: tmpfs root", __func__);
	for (i = 0; i < nlinks; i++) {
		snprintf(dst, sizeof(dst), NEWROOT "%s", links[i].path);
		if (symlink(links[i].target, dst) == -1)
			fatal("%s: symlink %s", __func__, links[i].path);
	}
	for (i = 0; i < nplan; i++) {
		do_bind(&plan[i]);
		if (plan[i].fd != -1)
			close(plan[i].fd);
	}
	startprof_mark("binds");
	log_debug("%s: %zu binds (%zu libraries)", __func__, nplan, deps->n);
	free(deps);

	/*
	 * QEMU loads -kernel/-initrd with fopen() of /proc/self/fd/N. Only
	 * our own processes are visible (hidepid), and nothing outside
	 * /proc/<pid> (subset=pid: no /proc/sys, /proc/kcore, ...).
	 */
	mkdirs("/proc");
	if (mount("proc", NEWROOT "/proc", "proc",
	        MS_NOSUID | MS_NODEV | MS_NOEXEC,
	        "hidepid=invisible,subset=pid") == -1)
		fatal("%s: mount proc", __func__);

	mkdirs("/.oldroot");
	if (chdir(NEWROOT) == -1)
		fatal("%s: chdir", __func__);
	if (syscall(SYS_pivot_root, ".", ".oldroot") == -1)
		fatal("%s: pivot_root", __func__);
	if (chdir("/") == -1)
		fatal("%s: chdir /", __func__);
	if (umount2("/.oldroot", MNT_DETACH) == -1)
		fatal("%s: umount old root", __func__);
	if (rmdir("/.oldroot") == -1)
		fatal("%s: rmdir old root", __func__);
	/* The jail's own tree is read-only too. */
	jail_seal();
	for (i = 0; i < nplan; i++) {
		free(plan[i].src);
		free(plan[i].dst);
	}
	free(plan);
	plan = NULL;
	startprof_mark("pivot");
	snprintf(out->qemu_path, sizeof(out->qemu_path), "%s", j->qemu_path);
}

struct ids {
	uid_t uid;
	gid_t gid;
	gid_t groups[2];
	int ngroups;
};

/* NSS reads /etc: resolve while the host's /etc is still visible. */
static void
resolve_ids(const struct vmmon_jail *j, struct ids *ids)
{
	struct passwd *pw;
	struct group *gr;

	ids->ngroups = 0;
	if (j->uid != 0) {
		/* A sandbox uid: no passwd entry, its gid is the same number.
		 */
		ids->uid = j->uid;
		ids->gid = (gid_t)j->uid;
		ids->groups[ids->ngroups++] = ids->gid;
		goto kvm;
	}
	if ((pw = getpwnam(j->user)) == NULL)
		fatalx("%s: no user %s (scripts/setup-host creates it)",
		    __func__, j->user);
	if (pw->pw_uid == 0 || pw->pw_gid == 0)
		fatalx("%s: user %s must not be root", __func__, j->user);
	ids->uid = pw->pw_uid;
	ids->gid = pw->pw_gid;
	ids->groups[ids->ngroups++] = pw->pw_gid;
kvm:
	/* kvm: the only extra group, for /dev/kvm (0660 root:kvm). */
	if ((gr = getgrnam("kvm")) != NULL && gr->gr_gid != 0)
		ids->groups[ids->ngroups++] = gr->gr_gid;
}

void
vmmon_priv_drop(const struct vmmon_jail *j, struct vmmon_jailed *out)
{
	struct ids ids;

	memset(out, 0, sizeof(*out));
	if (geteuid() != 0)
		fatalx("%s: must start as root to build the jail", __func__);
	out->tsc_khz = tsc_khz_measure();
	startprof_mark("tsc");
	resolve_ids(j, &ids);
	startprof_mark("ids");
	build_root(j, out);
	ids_drop(ids.uid, ids.gid, ids.groups, ids.ngroups);
	startprof_mark("drop");
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
		fatal("%s: no_new_privs", __func__);
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == -1)
		fatal("%s: dumpable", __func__);
	log_debug("%s: jailed as uid %u (%s), pid %d in its PID namespace, "
	          "tsc %lu kHz, kvm node %s",
	    __func__, (unsigned)ids.uid, j->uid != 0 ? "sandbox" : j->user,
	    (int)getpid(), out->tsc_khz, out->have_kvm_node ? "yes" : "no");
}

void
vmmon_kvm_probe_child(int wfd)
{
	/* hlt */
	static const unsigned char code[] = {0xf4};
	struct kvm_userspace_memory_region mr;
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	struct kvm_run *run;
	int kvm, vm, vcpu, size;
	char ok = '0';
	void *mem;

	if ((kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC)) == -1)
		goto out;
	if (ioctl(kvm, KVM_GET_API_VERSION, 0) != KVM_API_VERSION)
		goto out;
	if ((vm = ioctl(kvm, KVM_CREATE_VM, 0)) == -1)
		goto out;
	mem = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		goto out;
	memcpy(mem, code, sizeof(code));
	memset(&mr, 0, sizeof(mr));
	mr.guest_phys_addr = 0x1000;
	mr.memory_size = 4096;
	mr.userspace_addr = (uint64_t)(uintptr_t)mem;
	if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &mr) == -1)
		goto out;
	if ((vcpu = ioctl(vm, KVM_CREATE_VCPU, 0)) == -1)
		goto out;
	if ((size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0)) <= 0)
		goto out;
	run = mmap(
	    NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	if (run == MAP_FAILED)
		goto out;
	if (ioctl(vcpu, KVM_GET_SREGS, &sregs) == -1)
		goto out;
	sregs.cs.base = 0;
	sregs.cs.selector = 0;
	if (ioctl(vcpu, KVM_SET_SREGS, &sregs) == -1)
		goto out;
	memset(&regs, 0, sizeof(regs));
	regs.rip = 0x1000;
	regs.rflags = 0x2;
	if (ioctl(vcpu, KVM_SET_REGS, &regs) == -1)
		goto out;
	if (ioctl(vcpu, KVM_RUN, 0) == -1)
		goto out;
	if (run->exit_reason == KVM_EXIT_HLT)
		ok = '1';
out:
	if (write(wfd, &ok, 1) != 1)
		_exit(1);
	_exit(0);
}
