/*
 * qemubox-tmpl: the template holder (tmpl.h says what it is; its
 * start-up order and confinement: tmpl_priv.c; docs/PERFORMANCE.md
 * "Pre-booted VMs and cloning", docs/SECURITY.md).
 *
 *   qemubox-tmpl [-dS]
 * Started as root, detached, by the shim's `start` action when
 * runtime.clone is on and the socket does not answer (or by hand / a
 * service manager); exits at once when another holder owns
 * <paths.state_dir>/tmpl. Settings from config.json ($QEMUBOX_CONFIG or the
 * default path; built-in defaults when absent). -d debug log, -S seccomp
 * log mode (diagnosing only). Runs until SIGTERM/SIGINT; its vmmons kill
 * their QEMU and exit when it goes.
 */
#include <sys/signalfd.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/evloop.h"
#include "lib/log.h"
#include "seccomp/seccomp.h"
#include "tmpl/tmpl.h"

struct tmpl tmpl;

static void
on_signal(struct ev_signal *s, const struct signalfd_siginfo *si, void *arg)
{
	int signo = (int)si->ssi_signo;

	(void)s;
	(void)arg;
	if (signo == SIGCHLD) {
		tmpl_children_reap();
		return;
	}
	log_info("%s: signal %d: exiting", __func__, signo);
	evloop_break(tmpl.loop);
}

static void
usage(void)
{
	fprintf(stderr, "usage: qemubox-tmpl [-dS]\n");
	exit(2);
}

int
main(int argc, char *argv[])
{
	struct tmpl *t = &tmpl;
	struct qb_error err = {0};
	const char *cfg_path;
	int ch, i, rc;

	if (argc == 2 &&
	    (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		printf("usage: qemubox-tmpl [-dS]\n"
		       "The template holder of containerd-shim-qemubox-v1: "
		       "boots one template VM,\nkeeps its sealed RAM and "
		       "device state and hands them to shims that clone it.\n"
		       "Started by the shim when runtime.clone is on.\n");
		return 0;
	}
	log_init("qemubox-tmpl", 0);
	qb_config_defaults(&t->cfg);
	cfg_path = qb_config_path();
	if (access(cfg_path, F_OK) == 0 &&
	    qb_config_load(cfg_path, &t->cfg, &err) == -1)
		fatalx("%s", err.msg);
	t->debug = t->cfg.runtime.debug;
	while ((ch = getopt(argc, argv, "dS")) != -1) {
		switch (ch) {
		case 'd':
			t->debug = true;
			break;
		case 'S':
			t->cfg.security.seccomp = QB_SECCOMP_LOG;
			break;
		default:
			usage();
		}
	}
	setenv("TZ", "UTC0", 1);
	tzset();
	log_init("qemubox-tmpl", t->debug);
	signal(SIGPIPE, SIG_IGN);
	if (geteuid() != 0)
		fatalx("must start as root (it drops to its own uid)");

	t->lock_fd = t->listen_fd = t->kernel_fd = t->initrd_fd = -1;
	t->tap_fd = t->chan_fd = t->ram_fd = t->state_fd = -1;
	t->tpl_ram_fd = t->tpl_state_fd = -1;
	for (i = 0; i < TMPL_ATTEMPTS; i++) {
		t->vmmon_fd[i] = -1;
		t->vmmon_pid[i] = -1;
	}
	/* What it boots, and what a GET_REQ must ask for to get it. */
	t->have.memory_mb = t->cfg.runtime.memory_mb;
	t->have.boot_cpus = t->cfg.runtime.boot_cpus;
	t->have.machine = QB_VMM_MACHINE_MICROVM;
	t->have.transport = QB_VMM_TRANSPORT_VIRTIO_SERIAL;
	/* The shim's cmdline for a virtio-serial VM (vm_sandbox.c). */
	snprintf(t->have.cmdline, sizeof(t->have.cmdline), "%s",
	    t->cfg.runtime.debug ? "qemubox.debug=1" : "");

	if ((rc = tmpl_lock_and_listen(t)) == 1) {
		log_info("another qemubox-tmpl serves %s: exiting",
		    t->cfg.paths.state_dir);
		return 0;
	}
	if (rc == -1 || tmpl_open_guest(t) == -1 || tmpl_make_tap(t) == -1 ||
	    tmpl_pick_uid(t) == -1 || tmpl_spawn_vmmons(t) == -1)
		fatalx("start-up failed (see above)");
	tmpl_priv_drop(t);

	if ((t->loop = evloop_new()) == NULL)
		fatal("evloop_new");
	if (evloop_signal_add(t->loop, SIGTERM, on_signal, NULL) == NULL ||
	    evloop_signal_add(t->loop, SIGINT, on_signal, NULL) == NULL ||
	    evloop_signal_add(t->loop, SIGCHLD, on_signal, NULL) == NULL)
		fatal("signals");
	if (seccomp_apply_tmpl(t->cfg.security.seccomp) == -1)
		fatal("seccomp");
	tmpl_children_reap();
	if (tmpl_serve_start() == -1)
		fatal("serve");
	tmpl_boot_start();
	rc = evloop_run(t->loop);
	log_info("stopping (%d)", rc);
	return 0;
}
