#include "vmmon/qemu_argv.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SANDBOX_OPTS                                                          \
	"on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=" \
	"deny"

enum qb_vmm_machine
qemu_machine_resolve(enum qb_vmm_machine requested, unsigned boot_cpus,
    unsigned max_cpus, unsigned memory_slots)
{
	if (requested != QB_VMM_MACHINE_AUTO)
		return requested;
	if (max_cpus > boot_cpus || memory_slots > 0)
		return QB_VMM_MACHINE_Q35;
	return QB_VMM_MACHINE_MICROVM;
}

bool
qemu_argv_safe_token(const char *s)
{
	for (; *s != '\0'; s++) {
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		        (*s >= '0' && *s <= '9') || *s == '_' || *s == '.' ||
		        *s == '-'))
			return false;
	}
	return true;
}

static int push(struct qemu_argv *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
push(struct qemu_argv *a, const char *fmt, ...)
{
	va_list ap;
	char *s, **n;
	int rc;

	if (a->argc + 2 > a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 64;

		if ((n = realloc(a->argv, cap * sizeof(*n))) == NULL)
			return -1;
		a->argv = n;
		a->cap = cap;
	}
	va_start(ap, fmt);
	rc = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (rc < 0)
		return -1;
	a->argv[a->argc++] = s;
	a->argv[a->argc] = NULL;
	return 0;
}

void
qemu_argv_free(struct qemu_argv *a)
{
	size_t i;

	for (i = 0; i < a->argc; i++)
		free(a->argv[i]);
	free(a->argv);
	memset(a, 0, sizeof(*a));
}

bool
qemu_argv_cmdline_ok(const char *s)
{
	/* One argv element, so commas are harmless; control bytes are not. */
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			return false;
	return true;
}

int
qemu_vm_shape_check(enum qb_vmm_machine machine, unsigned boot_cpus,
    unsigned max_cpus, unsigned memory_mb, unsigned max_memory_mb,
    unsigned memory_slots, struct qb_error *err)
{
	if (machine != QB_VMM_MACHINE_AUTO &&
	    machine != QB_VMM_MACHINE_MICROVM && machine != QB_VMM_MACHINE_Q35)
		return qb_seterr(
		    err, QB_E_INVALID, "unknown machine %u", (unsigned)machine);
	if (boot_cpus < 1 || boot_cpus > 255 || max_cpus < boot_cpus ||
	    max_cpus > 255)
		return qb_seterr(err, QB_E_INVALID,
		    "vcpus: need 1 <= boot (%u) <= max (%u) <= 255", boot_cpus,
		    max_cpus);
	if (memory_mb < 64 || memory_mb > 1024 * 1024)
		return qb_seterr(err, QB_E_INVALID,
		    "memory %u MiB out of range [64, 1048576]", memory_mb);
	if (memory_slots > 0 &&
	    (max_memory_mb <= memory_mb || memory_slots > 255 ||
	        max_memory_mb > 1024 * 1024))
		return qb_seterr(err, QB_E_INVALID,
		    "memory hotplug: need memory (%u) < max (%u), slots <= 255",
		    memory_mb, max_memory_mb);
	if (machine == QB_VMM_MACHINE_MICROVM &&
	    (max_cpus > boot_cpus || memory_slots > 0))
		return qb_seterr(
		    err, QB_E_INVALID, "microvm has no CPU or memory hotplug");
	return 0;
}

static int
validate(const struct qemu_vm_config *c, struct qb_error *err)
{
	unsigned i;

	if (c->qemu_path == NULL || c->qemu_path[0] != '/')
		return qb_seterr(
		    err, QB_E_INVALID, "qemu path must be absolute");
	if (c->data_dir == NULL || c->data_dir[0] != '/' ||
	    !qemu_argv_cmdline_ok(c->data_dir))
		return qb_seterr(err, QB_E_INVALID,
		    "qemu data dir (-L) must be an absolute printable path");
	if (c->name == NULL || c->name[0] == '\0' ||
	    strlen(c->name) >= QB_ID_MAX || !qemu_argv_safe_token(c->name))
		return qb_seterr(err, QB_E_INVALID, "vm name: bad charset");
	if (c->machine != QB_VMM_MACHINE_MICROVM &&
	    c->machine != QB_VMM_MACHINE_Q35)
		return qb_seterr(err, QB_E_INVALID, "machine unresolved");
	if (c->accel != QB_VMM_ACCEL_KVM && c->accel != QB_VMM_ACCEL_TCG)
		return qb_seterr(err, QB_E_INVALID, "accel unresolved");
	if (qemu_vm_shape_check(c->machine, c->boot_cpus, c->max_cpus,
	        c->memory_mb, c->max_memory_mb, c->memory_slots, err) == -1)
		return -1;
	if (c->machine == QB_VMM_MACHINE_MICROVM &&
	    c->accel == QB_VMM_ACCEL_TCG && c->tsc_khz == 0)
		return qb_seterr(err, QB_E_INVALID,
		    "microvm under TCG needs the host TSC frequency");
	/* 0, 1, 2 are QEMU's stdio; -add-fd refuses them. */
	if (c->qmp_fd < 3 || c->console_fd < 3 || c->kernel_fd < 3 ||
	    c->initrd_fd < 3)
		return qb_seterr(err, QB_E_INVALID, "fd below 3");
	switch (c->transport) {
	case QB_VMM_TRANSPORT_VIRTIO_SERIAL:
		if (c->channel_fd < 3)
			return qb_seterr(err, QB_E_INVALID, "no channel fd");
		break;
	case QB_VMM_TRANSPORT_VSOCK:
		if (c->vhost_vsock_fd < 3 || c->guest_cid < 3)
			return qb_seterr(err, QB_E_INVALID,
			    "vsock: need a vhost fd and guest cid >= 3");
		break;
	default:
		return qb_seterr(err, QB_E_INVALID, "unknown transport %d",
		    (int)c->transport);
	}
	if (c->tap_fd != -1 && c->tap_fd < 3)
		return qb_seterr(err, QB_E_INVALID, "tap fd below 3");
	if (c->fs_fd != -1 && c->fs_fd < 3)
		return qb_seterr(err, QB_E_INVALID, "vhost-user-fs fd below 3");
	switch (c->ram_mode) {
	case QB_VMM_RAM_ANON:
		break;
	case QB_VMM_RAM_TEMPLATE:
	case QB_VMM_RAM_CLONE:
		if (c->ram_fd < 3)
			return qb_seterr(
			    err, QB_E_INVALID, "ram_mode: ram fd below 3");
		if (c->fs_fd != -1)
			return qb_seterr(err, QB_E_INVALID,
			    "ram_mode template/clone: has_fs (vhost-user-fs "
			    "cannot migrate)");
		if (c->max_cpus != c->boot_cpus || c->memory_slots != 0)
			return qb_seterr(err, QB_E_INVALID,
			    "ram_mode template/clone: max_cpus must equal "
			    "boot_cpus and memory_slots be 0 (no hotplug)");
		break;
	default:
		return qb_seterr(
		    err, QB_E_INVALID, "unknown ram_mode %d", (int)c->ram_mode);
	}
	if (c->ndisks > QB_VMM_MAX_DISKS)
		return qb_seterr(err, QB_E_INVALID, "too many disks (%u > %d)",
		    c->ndisks, QB_VMM_MAX_DISKS);
	if (c->ram_mode == QB_VMM_RAM_CLONE && c->ndisks > 0 &&
	    !c->hotplug_disks)
		return qb_seterr(err, QB_E_INVALID,
		    "ram_mode clone: disks need the SCSI bus (hotplug_disks)");
	for (i = 0; i < c->ndisks; i++) {
		if (c->disks[i].fd < 3)
			return qb_seterr(err, QB_E_INVALID, "disk %u: fd", i);
		if (strnlen(c->disks[i].serial, QB_VMM_SERIAL_MAX) >=
		        QB_VMM_SERIAL_MAX ||
		    !qemu_argv_safe_token(c->disks[i].serial))
			return qb_seterr(err, QB_E_INVALID,
			    "disk %u: serial must be <= 20 of [A-Za-z0-9_.-]",
			    i);
	}
	if (c->tcg_tb_mb > QEMU_TCG_TB_MAX_MB)
		return qb_seterr(err, QB_E_INVALID,
		    "tcg tb-size %u MiB above %u", c->tcg_tb_mb,
		    QEMU_TCG_TB_MAX_MB);
	if (c->page_reporting_order > QEMU_PAGE_REPORTING_ORDER_MAX)
		return qb_seterr(err, QB_E_INVALID,
		    "page reporting order %u above %u", c->page_reporting_order,
		    QEMU_PAGE_REPORTING_ORDER_MAX);
	if (c->cmdline_extra != NULL &&
	    (strlen(c->cmdline_extra) >= QB_VMM_CMDLINE_MAX ||
	        !qemu_argv_cmdline_ok(c->cmdline_extra)))
		return qb_seterr(err, QB_E_INVALID,
		    "kernel cmdline: too long or not printable ASCII");
	return 0;
}

int
qemu_argv_build(
    const struct qemu_vm_config *c, struct qemu_argv *a, struct qb_error *err)
{
	bool pci = c->machine == QB_VMM_MACHINE_Q35;
	/* microvm exposes virtio-mmio ("-device"), q35 virtio-pci. */
	const char *bus = pci ? "pci" : "device";
	const char *tcg_tsc = "";
	char tsc[64] = "", mods[48], prorder[48] = "";
	unsigned i;

	memset(a, 0, sizeof(*a));
	if (validate(c, err) == -1)
		return -1;

	/*
	 * Under TCG, microvm's kernel cannot calibrate the TSC without a PIT
	 * it trusts and hangs in about 2 boots of 3 (HOST-FACTS): tell it.
	 * TCG's TSC follows the host clock, so it is also reliable; without
	 * tsc=reliable the clocksource watchdog compares it with jiffies,
	 * which lose ticks when the host is busy, marks it unstable and the
	 * guest falls back to refined-jiffies, which needs a periodic tick.
	 */
	if (c->accel == QB_VMM_ACCEL_TCG && c->tsc_khz != 0) {
		snprintf(tsc, sizeof(tsc), " tsc_early_khz=%lu tsc=reliable",
		    c->tsc_khz);
		tcg_tsc = tsc;
	}

	/*
	 * The guest's optional module groups (guest/modules.list), from the
	 * devices below: a module the VM has no device for costs guest
	 * memory and boot time for nothing.
	 */
	snprintf(mods, sizeof(mods), " qemubox.modules=%s%s%s%s",
	    c->hotplug_disks ? "scsi," : "", c->fs_fd != -1 ? "fs," : "",
	    c->transport == QB_VMM_TRANSPORT_VSOCK ? "vsock," : "",
	    pci ? "pci," : "");
	if (mods[strlen(mods) - 1] == ',')
		mods[strlen(mods) - 1] = '\0';
	/*
	 * Free page reporting hands back free blocks of 2^order pages; the
	 * kernel's default, 9 (2 MiB), leaves the free memory in smaller
	 * blocks resident (docs/PERFORMANCE.md).
	 */
	if (c->page_reporting_order != 0)
		snprintf(prorder, sizeof(prorder),
		    " page_reporting.page_reporting_order=%u",
		    c->page_reporting_order);

#define P(...)                                  \
	do {                                    \
		if (push(a, __VA_ARGS__) == -1) \
			goto nomem;             \
	} while (0)

	P("%s", c->qemu_path);
	P("-name");
	P("qemubox-%s", c->name);
	P("-machine");
	P("%s", pci ? "q35" : "microvm");
	P("-accel");
	/*
	 * tb-size: TCG's code cache is 1 GiB of address space by default and
	 * a booted guest has touched ~66 MiB of it, resident for the VM's
	 * life. A smaller cache is flushed and refilled when full: less
	 * memory per VM for some retranslation (README, Performance).
	 * Not with vCPU hotplug: QEMU 7.2 splits the cache into regions per
	 * vCPU thread, a running vCPU takes regions as it fills them, and a
	 * hot-added vCPU that finds none left aborts QEMU (g_assert in
	 * tcg_region_initial_alloc; 37-hotplug: SIGABRT on the vCPU add with
	 * 32 MiB, fine with the default). Such VMs keep QEMU's default.
	 */
	if (c->accel == QB_VMM_ACCEL_TCG && c->tcg_tb_mb != 0 &&
	    c->max_cpus <= c->boot_cpus)
		P("tcg,tb-size=%u", c->tcg_tb_mb);
	else
		P("%s", c->accel == QB_VMM_ACCEL_KVM ? "kvm" : "tcg");
	/*
	 * TCG: the default qemu64 model (-cpu max hangs microvm under TCG)
	 * plus ARAT. Without ARAT the guest flags its local APIC timer as
	 * stopping in deep C-states; microvm has no broadcast timer, so the
	 * guest never leaves the periodic 250 Hz tick and every idle VM
	 * costs ~6% of a host core. With it: tickless idle, ~1%.
	 */
	P("-cpu");
	P("%s", c->accel == QB_VMM_ACCEL_KVM ? "host" : "qemu64,+arat");
	P("-smp");
	if (c->max_cpus > c->boot_cpus)
		P("%u,maxcpus=%u", c->boot_cpus, c->max_cpus);
	else
		P("%u", c->boot_cpus);
	P("-m");
	if (c->memory_slots > 0)
		P("%uM,slots=%u,maxmem=%uM", c->memory_mb, c->memory_slots,
		    c->max_memory_mb);
	else
		P("%uM", c->memory_mb);
	if (c->fs_fd != -1) {
		/*
		 * virtiofsd reads and writes guest buffers directly: guest RAM
		 * must be a memfd it can map (vhost-user passes the fd).
		 */
		P("-object");
		P("memory-backend-memfd,id=mem0,size=%uM,share=on",
		    c->memory_mb);
		P("-machine");
		P("memory-backend=mem0");
	} else if (c->ram_mode != QB_VMM_RAM_ANON) {
		/*
		 * Cloning: the template's RAM is a memfd it shares (its pages
		 * are the clones' RAM image); a clone maps the same, sealed,
		 * memfd private: what it never writes stays shared. Nothing
		 * else in the argv may differ between the two.
		 */
		P("-object");
		P("memory-backend-file,id=mem0,size=%uM,mem-path=/proc/self/"
		  "fd/%d,share=%s",
		    c->memory_mb, c->ram_fd,
		    c->ram_mode == QB_VMM_RAM_TEMPLATE ? "on" : "off");
		P("-machine");
		P("memory-backend=mem0");
	}
	P("-nodefaults");
	P("-no-user-config");
	/* Firmware and ROMs: paths.qemu_share_path, bound in the jail. */
	P("-L");
	P("%s", c->data_dir);
	P("-display");
	P("none");
	/* A guest reboot ends the sandbox: QEMU exits, vmmon reports it. */
	P("-no-reboot");
	P("-sandbox");
	P(SANDBOX_OPTS);
	P("-msg");
	P("timestamp=off");

	P("-chardev");
	P("socket,id=qmp,fd=%d", c->qmp_fd);
	P("-mon");
	P("chardev=qmp,mode=control");
	P("-chardev");
	/* The write end of a pipe; QEMU opens it O_NONBLOCK. */
	P("file,id=console,path=/proc/self/fd/%d", c->console_fd);
	P("-serial");
	P("chardev:console");

	/* x86 loads -kernel/-initrd with fopen(), which ignores fd sets. */
	P("-kernel");
	P("/proc/self/fd/%d", c->kernel_fd);
	P("-initrd");
	P("/proc/self/fd/%d", c->initrd_fd);
	P("-append");
	P("console=ttyS0 panic=1%s%s%s%s%s", tcg_tsc, mods, prorder,
	    c->cmdline_extra && c->cmdline_extra[0] ? " " : "",
	    c->cmdline_extra ? c->cmdline_extra : "");

	/* Entropy without a host path (rng-random would open /dev/urandom). */
	P("-object");
	P("rng-builtin,id=rng0");
	P("-device");
	P("virtio-rng-%s,rng=rng0", bus);

	/*
	 * Free page reporting: the guest hands back the pages it freed (the
	 * compressed kernel and initramfs, boot-time buffers), QEMU drops
	 * them from its RSS. Measured: 22 MB less per idle VM, no slower
	 * start. Nothing is ever inflated; the guest only loses what it
	 * already freed.
	 */
	/*
	 * Not with a template or clone: QEMU 7.2 discards a reported range of
	 * file-backed RAM by punching a hole in the file even when it is
	 * mapped private (the sealed memfd refuses, one error per range), and
	 * the balloon's queues are migrated, so both sides agree: off.
	 */
	P("-device");
	P("virtio-balloon-%s,free-page-reporting=%s", bus,
	    c->ram_mode == QB_VMM_RAM_ANON ? "on" : "off");
	if (c->transport == QB_VMM_TRANSPORT_VIRTIO_SERIAL) {
		P("-chardev");
		P("socket,id=channel,fd=%d", c->channel_fd);
		P("-device");
		P("virtio-serial-%s,id=vser0", bus);
		P("-device");
		P("virtserialport,bus=vser0.0,chardev=channel,name=qemubox.0");
	} else {
		P("-device");
		P("vhost-vsock-%s,id=vsock0,guest-cid=%u,vhostfd=%d", bus,
		    c->guest_cid, c->vhost_vsock_fd);
	}

	/*
	 * A clone's device set is its template's: its disks are only fds
	 * here; they join scsi0 as LUNs before it runs (vm_restore.c).
	 */
	for (i = 0; c->ram_mode == QB_VMM_RAM_CLONE && i < c->ndisks; i++) {
		P("-add-fd");
		P("fd=%d,set=%u", c->disks[i].fd, QEMU_LUN_FDSET_BASE + i);
	}
	for (i = 0; c->ram_mode != QB_VMM_RAM_CLONE && i < c->ndisks; i++) {
		const struct qemu_argv_disk *d = &c->disks[i];

		/* Set ids start at 1: set 0 reads as "no set" in messages. */
		P("-add-fd");
		P("fd=%d,set=%u", d->fd, i + 1);
		/*
		 * A writable -drive is auto-read-only by default: QEMU
		 * reopens it O_RDONLY until a device wants to write, and an
		 * fdset holding only our O_RDWR fd cannot give it that
		 * (EACCES). The scratch disk stays read-write throughout.
		 * werror=report: a full host filesystem under a sparse disk
		 * must give the guest an I/O error; QEMU's default (enospc,
		 * stop) pauses the VM, and nothing here would resume it.
		 */
		P("-drive");
		P("file=/dev/fdset/%u,if=none,id=disk%u,format=raw%s", i + 1, i,
		    d->readonly ? ",readonly=on"
		                : ",auto-read-only=off,werror=report");
		P("-device");
		if (d->serial[0] != '\0')
			P("virtio-blk-%s,drive=disk%u,serial=%s", bus, i,
			    d->serial);
		else
			P("virtio-blk-%s,drive=disk%u", bus, i);
	}

	if (c->fs_fd != -1) {
		/*
		 * microvm's virtio-mmio transports default to legacy (virtio
		 * 0.9), which vhost-user-fs refuses to work with.
		 */
		if (!pci) {
			P("-global");
			P("virtio-mmio.force-legacy=false");
		}
		P("-chardev");
		P("socket,id=fs0,fd=%d", c->fs_fd);
		P("-device");
		P("vhost-user-fs-%s,chardev=fs0,tag=%s", bus, QB_VMM_FS_TAG);
	}

	/* An empty SCSI bus: a pod's later disks are hot-added LUNs. */
	if (c->hotplug_disks) {
		P("-device");
		P("virtio-scsi-%s,id=scsi0", bus);
	}

	if (c->tap_fd != -1) {
		P("-netdev");
		P("tap,id=net0,fd=%d", c->tap_fd);
		P("-device");
		/*
		 * romfile= : no iPXE option ROM to find on q35, no PXE boot.
		 * status=off: no link status feature; the guest then sets the
		 * carrier on within the driver's probe and its link is running
		 * (operstate up) as soon as it is up. With it, the carrier came
		 * from a work item and the kernel's link watch marked the link
		 * running only up to a second later, after the container had
		 * started (guest/net_config.c). Nothing here sets a NIC's link
		 * down.
		 */
		P("virtio-net-%s,netdev=net0,mac=%02x:%02x:%02x:%02x:%02x:%02x,"
		  "status=off%s",
		    bus, c->mac[0], c->mac[1], c->mac[2], c->mac[3], c->mac[4],
		    c->mac[5], pci ? ",romfile=" : "");
	}
	/* A clone waits for migrate-incoming (its state fd) over QMP. */
	if (c->ram_mode == QB_VMM_RAM_CLONE) {
		P("-incoming");
		P("defer");
	}
#undef P
	return 0;
nomem:
	qemu_argv_free(a);
	return qb_seterr(err, QB_E_INTERNAL, "qemu argv: out of memory");
}
