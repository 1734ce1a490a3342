/*
 * qemubox-tmpl: the template's boot, through one of its vmmons.
 *
 *   START (ram_mode TEMPLATE: a fresh memfd as RAM, another for the state;
 *   virtio-serial channel, the TAP, the SCSI bus for clones' disks, no
 *   disks) -> the guest's Ready on the channel (shim/guest_client) -> SAVE
 *   (vmmon stops, migrates the device state, quits and reaps QEMU) -> seal
 *   the RAM memfd and the state memfd W|SHRINK|GROW|SEAL -> ready.
 *
 * A failed attempt (QEMU exits, vmmon goes, no Ready within
 * runtime.boot_timeout, SAVE fails) is logged with its reason; its vmmon
 * is dropped (it kills its QEMU when its socket closes) and the next one
 * is tried after TMPL_BACKOFF_MS << attempt. After TMPL_ATTEMPTS the
 * holder stops trying (it cannot start vmmons any more) and answers
 * ENOENT: every Create cold-boots.
 */
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/evloop.h"
#include "lib/log.h"
#include "shim/guest_client.h"
#include "shim/vmmon_client.h"
#include "tmpl/tmpl.h"

#define SEALS (F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)

static void boot_next(struct ev_timer *t, void *arg);

/* Drops the attempt's clients and fds (from a defer: not in a callback). */
static void
boot_release(void *arg)
{
	struct tmpl *t = arg;

	if (t->gc != NULL)
		guest_client_free(t->gc);
	t->gc = NULL;
	/* vmmon sees EOF: it kills and reaps its QEMU, then exits. */
	if (t->vm != NULL)
		vmmon_client_free(t->vm);
	t->vm = NULL;
	if (t->chan_fd != -1)
		close(t->chan_fd);
	t->chan_fd = -1;
	if (t->ram_fd != -1)
		close(t->ram_fd);
	if (t->state_fd != -1)
		close(t->state_fd);
	t->ram_fd = t->state_fd = -1;
	t->saving = false;
}

static void boot_fail(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static void
boot_fail(const char *fmt, ...)
{
	struct tmpl *t = &tmpl;
	char why[512];
	va_list ap;
	uint64_t delay;

	if (t->attempt_over)
		return; /* this attempt already ended */
	t->attempt_over = true;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	log_warnx("template boot attempt %d of %d failed: %s", t->attempts,
	    TMPL_ATTEMPTS, why);
	if (evloop_defer(t->loop, boot_release, t) == NULL)
		fatal("%s: defer", __func__);
	/* Callbacks may still come for this attempt: they see no client. */
	t->saving = false;
	if (t->attempts >= TMPL_ATTEMPTS) {
		log_warnx("%s: no attempt left: no template; Creates cold-boot "
		          "until qemubox-tmpl is restarted",
		    __func__);
		return;
	}
	delay = (uint64_t)TMPL_BACKOFF_MS << (t->attempts - 1);
	log_info(
	    "%s: next attempt in %llu ms", __func__, (unsigned long long)delay);
	if (evloop_timer_add(t->loop, delay * 1000000ull, 0, boot_next, t) ==
	    NULL)
		fatal("%s: timer", __func__);
}

static void
on_exit_evt(void *arg, const struct qb_vmm_exit_evt *ev)
{
	struct tmpl *t = arg;

	if (t->saving)
		return; /* SAVE quits QEMU: SAVE_RES decides */
	boot_fail("QEMU %d exited (status %d signal %d): %s", ev->pid,
	    ev->exit_status, ev->signal, ev->detail);
}

static void
on_vmmon_lost(void *arg)
{
	(void)arg;
	boot_fail("qemubox-vmmon is gone");
}

/* The template is saved: seal and keep. */
static void
saved(void *arg, const void *resp, size_t len, const struct qb_error *err)
{
	struct tmpl *t = arg;
	const struct qb_vmm_save_res *res = resp;
	int i;

	if (res == NULL || len != sizeof(*res)) {
		boot_fail("save: %s", err ? err->msg : "no answer");
		return;
	}
	if (t->attempt_over)
		return;
	if (fcntl(t->ram_fd, F_ADD_SEALS, SEALS) == -1 ||
	    fcntl(t->state_fd, F_ADD_SEALS, SEALS) == -1) {
		boot_fail("seal: %s", strerror(errno));
		return;
	}
	memset(&t->res, 0, sizeof(t->res));
	t->res.start = t->start;
	memset(t->res.start.id, 0, sizeof(t->res.start.id));
	t->res.ram_bytes = res->ram_bytes;
	t->res.state_bytes = res->state_bytes;
	t->res.generation = (uint64_t)t->attempts;
	t->tpl_ram_fd = t->ram_fd;
	t->tpl_state_fd = t->state_fd;
	t->ram_fd = t->state_fd = -1;
	t->saving = false;
	t->attempt_over = true;
	t->ready = true;
	log_info("%s: template ready (attempt %d): %u MiB RAM sealed in a "
	         "memfd, %llu bytes of device state, saved in %llu ms",
	    __func__, t->attempts, t->start.memory_mb,
	    (unsigned long long)res->state_bytes,
	    (unsigned long long)((evloop_now_ns() - t->save_t0) / 1000000));
	if (evloop_defer(t->loop, boot_release, t) == NULL)
		fatal("%s: defer", __func__);
	/* The spare vmmons are for retries: they exit when closed. */
	for (i = t->attempts; i < TMPL_ATTEMPTS; i++) {
		if (t->vmmon_fd[i] != -1)
			close(t->vmmon_fd[i]);
		t->vmmon_fd[i] = -1;
	}
}

static void
on_ready(struct guest_client *gc, uint64_t boot_ms, void *arg)
{
	struct tmpl *t = arg;
	struct qb_error err = {0};

	(void)gc;
	log_info("%s: template guest ready (%llu ms after its kernel "
	         "started): saving",
	    __func__, (unsigned long long)boot_ms);
	t->saving = true;
	t->save_t0 = evloop_now_ns();
	if (vmmon_request_async(
	        t->vm, IMSG_VMM_SAVE_REQ, NULL, 0, saved, t, &err) == -1)
		boot_fail("save: %s", err.msg);
}

static void
on_guest_dead(struct guest_client *gc, const char *why, void *arg)
{
	struct tmpl *t = arg;

	(void)gc;
	if (t->saving)
		return; /* the channel closes as QEMU quits */
	boot_fail("guest: %s", why);
}

static const struct guest_client_ops guest_ops = {
    .on_ready = on_ready,
    .on_dead = on_guest_dead,
};

static void
started(void *arg, const void *resp, size_t len, const struct qb_error *err)
{
	struct tmpl *t = arg;
	const struct qb_vmm_start_res *res = resp;

	if (res == NULL || len != sizeof(*res)) {
		boot_fail("start: %s", err ? err->msg : "no answer");
		return;
	}
	log_info("%s: template QEMU pid %d", __func__, res->pid);
	t->gc = guest_client_new(
	    t->loop, t->chan_fd, t->cfg.runtime.boot_timeout_ms, &guest_ops, t);
	if (t->gc == NULL)
		boot_fail("guest client: %s", strerror(errno));
}

/* One attempt with the next vmmon. */
static void
boot_next(struct ev_timer *timer, void *arg)
{
	static const uint8_t mac[6] = TMPL_MAC;
	static const struct vmmon_events ev = {
	    .exited = on_exit_evt, .lost = on_vmmon_lost, .arg = &tmpl};
	struct tmpl *t = arg;
	struct vm_start_params p;
	struct qb_error err = {0};
	int sv[2];

	(void)timer;
	if (t->attempts >= TMPL_ATTEMPTS)
		return;
	t->attempt_over = false;
	t->vm = vmmon_client_new(t->loop, t->vmmon_fd[t->attempts], &ev);
	t->vmmon_fd[t->attempts] = -1;
	t->attempts++;
	if (t->vm == NULL)
		fatal("%s: vmmon client", __func__);
	t->ram_fd =
	    memfd_create("qemubox-tmpl-ram", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	t->state_fd =
	    memfd_create("qemubox-tmpl-state", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (t->ram_fd == -1 || t->state_fd == -1 ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1) {
		boot_fail("memfd/socketpair: %s", strerror(errno));
		return;
	}
	t->chan_fd = sv[0];

	memset(&p, 0, sizeof(p));
	p.id = "qemubox-tmpl";
	p.boot_cpus = p.max_cpus = t->have.boot_cpus;
	p.memory_mb = p.max_memory_mb = t->have.memory_mb;
	p.machine = (enum qb_vmm_machine)t->have.machine;
	p.accel = QB_VMM_ACCEL_AUTO;
	p.transport = (enum qb_vmm_transport)t->have.transport;
	p.kernel_fd = t->kernel_fd;
	p.initrd_fd = t->initrd_fd;
	p.channel_fd = sv[1];
	p.console_log_fd = -1; /* vmmon drains and drops it */
	p.tap_fd = t->tap_fd;
	memcpy(p.mac, mac, sizeof(p.mac));
	p.vhost_vsock_fd = -1;
	p.fs_fd = -1;
	p.cmdline = t->have.cmdline;
	p.hotplug_disks = true;
	p.ram_mode = QB_VMM_RAM_TEMPLATE;
	p.ram_fd = t->ram_fd;
	p.state_fd = t->state_fd;

	/* What a clone gets back: the start request as vmmon receives it. */
	memset(&t->start, 0, sizeof(t->start));
	t->start.boot_cpus = t->start.max_cpus = p.boot_cpus;
	t->start.memory_mb = t->start.max_memory_mb = p.memory_mb;
	t->start.machine = p.machine;
	t->start.accel = p.accel;
	t->start.transport = p.transport;
	t->start.has_tap = 1;
	memcpy(t->start.mac, mac, sizeof(t->start.mac));
	snprintf(t->start.cmdline, sizeof(t->start.cmdline), "%s", p.cmdline);
	t->start.hotplug_disks = 1;
	t->start.ram_mode = QB_VMM_RAM_TEMPLATE;

	log_info("%s: attempt %d of %d: %u MiB, %u vCPU", __func__, t->attempts,
	    TMPL_ATTEMPTS, p.memory_mb, p.boot_cpus);
	if (vmmon_vm_start_async(t->vm, &p, started, t, &err) == -1)
		boot_fail("start: %s", err.msg);
	close(sv[1]); /* the stub sent a duplicate */
}

void
tmpl_boot_start(void)
{
	boot_next(NULL, &tmpl);
}

/* SIGCHLD: the vmmons (each exits once its socket is closed). */
void
tmpl_children_reap(void)
{
	int status, i;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (i = 0; i < TMPL_ATTEMPTS; i++)
			if (tmpl.vmmon_pid[i] == pid)
				tmpl.vmmon_pid[i] = -1;
		log_debug("%s: vmmon %d exited, status 0x%x", __func__,
		    (int)pid, status);
	}
}
