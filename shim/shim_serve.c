/*
 * The daemon's serving half: helpers forked while still root, privileges
 * dropped, then one event loop for the ttrpc server, the backend, events
 * and signals until Shutdown (with no container left) or SIGTERM/SIGINT.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/config.h"
#include "lib/evloop.h"
#include "lib/log.h"
#include "lib/proc_spawn.h"
#include "lib/startprof.h"
#include "lib/ttrpc.h"
#include "lib/vmmon_args.h"
#include "shim/backend.h"
#include "shim/events.h"
#include "shim/sandbox_host.h"
#include "shim/shim_daemon.h"
#include "shim/shim_priv.h"
#include "shim/task_service.h"
#include "shim/task_ttrpc.h"
#include "shim/tmpl_spawn.h"

/* Undelivered events get this long at exit (containerd's Shutdown waits 3 s).
 */
#define SHIM_EVENTS_DRAIN_MS 2000
/* How long a helper gets to exit after its socket closed. */
#define HELPER_EXIT_WAIT_MS 2000

struct serve_state {
	struct evloop *loop;
	struct task_service *svc;
	struct shim_daemon_ctx *d;
	bool done;
};

struct helper {
	const char *name;
	char path[PATH_MAX];
	int fd; /* our end of the imsg socketpair */
	pid_t pid;
};

static void
helper_exited(pid_t pid, int wstatus, void *arg)
{
	struct helper *h = arg;

	log_warnx("%s: %s (pid %d) exited, status 0x%x", __func__, h->name,
	    (int)pid, wstatus);
	h->pid = -1;
}

static char *
mut(const char *str)
{
	union {
		const char *c;
		char *m;
	} u = {.c = str};
	return u.m;
}

/*
 * qemubox-vmmon takes its settings as flags (it never reads the config
 * file: its jail has no view of /etc); privnet reads the config itself.
 */
static void
vmmon_args(const struct qb_config *cfg, bool debug, const char **a, char *tbuf,
    size_t tlen, char *ubuf, size_t ulen)
{
	vmmon_spawn_args(
	    cfg, sandbox_host_uid(), debug, a, tbuf, tlen, ubuf, ulen);
}

/*
 * Fork+exec one helper with its end of a socketpair on fd 3. A missing
 * binary is not fatal: the shim still serves and Create explains.
 */
static int
helper_spawn(const char *libexec, struct helper *h, const char *const *args,
    const struct proc_spawn_opts *opts, struct qb_error *err)
{
	char *argv[16];
	int sv[2], i;

	h->fd = -1;
	h->pid = -1;
	if (snprintf(h->path, sizeof(h->path), "%s/%s", libexec, h->name) >=
	    (int)sizeof(h->path)) {
		return qb_seterr(
		    err, QB_E_PRECONDITION, "%s: path too long", h->name);
	}
	if (access(h->path, X_OK) == -1) {
		return qb_seterr(err, QB_E_PRECONDITION,
		    "qemubox helper %s not found at %s (%s); install qemubox "
		    "(make install) or fix QB_LIBEXECDIR",
		    h->name, h->path, strerror(errno));
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1) {
		return qb_seterr(err, QB_E_INTERNAL, "%s: socketpair: %s",
		    h->name, strerror(errno));
	}
	argv[0] = h->path;
	for (i = 0; args[i] != NULL && i < 14; i++)
		argv[i + 1] = mut(args[i]);
	argv[i + 1] = NULL;
	if ((h->pid = proc_spawn_opt(
	         h->path, argv, sv[1], PROC_SPAWN_IMSG_FD, opts)) == -1) {
		qb_seterr(err, QB_E_PRECONDITION, "cannot start %s: %s",
		    h->path, strerror(errno));
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	close(sv[1]);
	h->fd = sv[0];
	if (shim_child_watch(h->pid, helper_exited, h) == -1)
		log_warn("%s: watch %s", __func__, h->name);
	log_info("%s: %s started, pid %d", __func__, h->name, (int)h->pid);
	return 0;
}

/* The sandbox's uid and host cgroup, named after its sandbox id. */
static int
sandbox_prepare(const struct shim_opts *o, const struct qb_config *cfg,
    struct qb_error *err)
{
	char group[256];

	if (shim_group_from_spec(
	        "config.json", o->id, group, sizeof(group), err) == -1 ||
	    sandbox_host_prepare(cfg, "config.json", group, err) == -1)
		return qb_preferr(err, "sandbox uid and cgroup");
	return 0;
}

const char *
shim_serve_features(void)
{
	return "containerd.task.v2.Task, containerd.task.v3.Task (ttrpc)";
}

/*
 * Wait (bounded) for a helper that was told to go by closing its socket, so
 * the shim leaves no zombie and no straggler behind it.
 */
static void
helper_reap(struct helper *h)
{
	struct timespec ms10 = {0, 10 * 1000 * 1000};
	int i, status;

	if (h->pid <= 0)
		return;
	for (i = 0; i < HELPER_EXIT_WAIT_MS / 10; i++) {
		if (waitpid(h->pid, &status, WNOHANG) != 0)
			goto out;
		nanosleep(&ms10, NULL);
	}
	log_warnx("%s: %s (pid %d) still running, killing it", __func__,
	    h->name, (int)h->pid);
	kill(h->pid, SIGKILL);
	waitpid(h->pid, &status, 0);
out:
	h->pid = -1;
}

static void
on_exit_request(void *arg)
{
	struct serve_state *st = arg;

	st->done = true;
	evloop_break(st->loop);
}

/*
 * Winding down: take the socket's name away now, not at exit. A `start`
 * for the same id (or pod) during the teardown then finds nobody serving
 * and starts a new daemon, which waits for this one's records to go
 * (sandbox_host_prepare), instead of handing containerd to a shim that
 * refuses every Create. The name may belong to that new daemon by the
 * time this one exits, so it is not unlinked again then.
 */
static void
on_closing(void *arg)
{
	struct serve_state *st = arg;
	struct shim_daemon_ctx *d = st->d;

	if (d->socket_path[0] == '\0')
		return;
	if (unlink(d->socket_path) == -1 && errno != ENOENT)
		log_warn("%s: unlink %s", __func__, d->socket_path);
	d->socket_path[0] = '\0';
}

static void
on_signal(struct ev_signal *s, const struct signalfd_siginfo *si, void *arg)
{
	struct serve_state *st = arg;

	(void)s;
	if (si->ssi_signo == SIGCHLD) {
		shim_children_reap();
		return;
	}
	log_info("on_signal: signal %u: shutting down", si->ssi_signo);
	task_service_terminate(st->svc);
}

int
shim_serve(struct shim_daemon_ctx *d)
{
	const struct shim_opts *o = d->opts;
	static struct helper privnet = {.name = "qemubox-privnet"};
	static struct helper vmmon = {.name = "qemubox-vmmon"};
	static struct helper spawner = {.name = "qemubox-spawner"};
	static struct helper fsd = {.name = "qemubox-fsd"};
	static struct qb_config cfg;
	struct serve_state st = {.d = d};
	struct events_pub *pub = NULL;
	struct ttrpc_server *srv = NULL;
	const struct shim_wiring *w = d->wiring;
	const struct backend_ops *ops = w->backend;
	struct events_cfg ecfg;
	struct backend_env env;
	struct qb_error err = {0}, missing = {0};
	char libexec[PATH_MAX];
	void *bst = NULL;
	bool cfg_ok = false, backend_up = false, host_up = false;
	int rc = 1;

	startprof_mark("exec");
	/* cfg is read only when cfg_ok. */
	if (qb_config_load_in_place(qb_config_path(), &cfg, &err) == 0)
		cfg_ok = true;
	else if (!ops->standalone)
		missing = err;
	if (shim_libexec_dir(libexec, sizeof(libexec)) == -1)
		fatal("%s: libexec dir", __func__);
	if (!ops->standalone) {
		const char *pargs[2] = {o->debug ? "-d" : NULL, NULL};
		const char *vargs[12];
		const char *sargs[5] = {NULL, NULL, NULL, NULL, NULL};
		char tbuf[24], cache_dir[PATH_MAX], ubuf[16];
		int ns = 0;
		/* vmmon: PID 1 of its own PID namespace (QEMU sees no other
		 * process, and dies with it), in the sandbox's cgroup. */
		struct proc_spawn_opts vopts = {.new_pidns = true};
		const char *fargs[3] = {NULL, NULL, NULL};
		int nf = 0;

		if (o->debug)
			fargs[nf++] = "-d";
		if (cfg_ok && cfg.security.seccomp == QB_SECCOMP_LOG)
			fargs[nf++] = "-S";

		startprof_mark("config");
		if (cfg_ok && sandbox_prepare(o, &cfg, &err) == 0)
			host_up = true;
		else if (cfg_ok && missing.msg[0] == '\0')
			missing = err;
		startprof_mark("sandbox_host");
		vopts.njoin = sandbox_host_cgroup_fds(&vopts.join_fds);
		vmmon_args(cfg_ok ? &cfg : NULL, o->debug, vargs, tbuf,
		    sizeof(tbuf), ubuf, sizeof(ubuf));
		if (helper_spawn(libexec, &privnet, pargs, NULL, &err) == -1 &&
		    missing.msg[0] == '\0')
			missing = err;
		vmmon.fd = -1;
		vmmon.pid = -1;
		if (host_up &&
		    helper_spawn(libexec, &vmmon, vargs, &vopts, &err) == -1 &&
		    missing.msg[0] == '\0')
			missing = err;
		/* Layer builds with the capabilities the shim gives up. */
		if (o->debug)
			sargs[ns++] = "-d";
		if (cfg_ok && cfg.security.seccomp == QB_SECCOMP_LOG)
			sargs[ns++] = "-S";
		if (cfg_ok &&
		    snprintf(cache_dir, sizeof(cache_dir), "%s/layers",
		        cfg.paths.state_dir) < (int)sizeof(cache_dir)) {
			sargs[ns++] = "-w";
			sargs[ns++] = cache_dir;
		}
		if (helper_spawn(libexec, &spawner, sargs, NULL, &err) == -1 &&
		    missing.msg[0] == '\0')
			missing = err;
		/* Only bind mounts need it: without it, Create says so. */
		if (helper_spawn(libexec, &fsd, fargs, NULL, &err) == -1)
			log_warnx("%s: %s", __func__, err.msg);
		/* Cloning: the template holder, detached, if none answers. */
		if (cfg_ok && cfg.runtime.clone &&
		    tmpl_spawn_if_down(&cfg, libexec, o->debug) == -1)
			log_warnx("%s: no template holder: Creates cold-boot",
			    __func__);
		sandbox_host_spawned();
		startprof_mark("helpers");
	} else {
		privnet.fd = vmmon.fd = spawner.fd = fsd.fd = -1;
		privnet.pid = vmmon.pid = spawner.pid = fsd.pid = -1;
	}

	shim_priv_drop(cfg_ok ? &cfg : NULL);
	startprof_mark("drop");
	if (w->confine != NULL)
		w->confine(cfg_ok ? &cfg : NULL);
	else
		log_warnx("%s: test wiring: no Landlock, no seccomp", __func__);
	startprof_mark("confine");

	if ((st.loop = evloop_new()) == NULL)
		fatal("%s: evloop_new", __func__);
	if (evloop_signal_add(st.loop, SIGTERM, on_signal, &st) == NULL ||
	    evloop_signal_add(st.loop, SIGINT, on_signal, &st) == NULL ||
	    evloop_signal_add(st.loop, SIGCHLD, on_signal, &st) == NULL)
		fatal("%s: signals", __func__);
	/* Children that died before the signalfd existed. */
	shim_children_reap();

	memset(&ecfg, 0, sizeof(ecfg));
	ecfg.ns = o->namespace[0] ? o->namespace : "default";
	ecfg.ttrpc_address = getenv("TTRPC_ADDRESS");
	ecfg.publish_binary = o->publish_binary;
	ecfg.grpc_address = o->address;
	if ((pub = events_new(st.loop, &ecfg)) == NULL)
		fatal("%s: events", __func__);
	st.svc =
	    task_service_new(NULL, NULL, missing.msg[0] ? missing.msg : NULL,
	        events_task_event, pub, on_exit_request, &st);
	if (st.svc == NULL)
		fatal("%s: task service", __func__);

	if (missing.msg[0] == '\0') {
		memset(&env, 0, sizeof(env));
		env.loop = st.loop;
		env.svc = st.svc;
		env.ns = ecfg.ns;
		env.cfg = cfg_ok ? &cfg : NULL;
		env.privnet_fd = privnet.fd;
		env.vmmon_fd = vmmon.fd;
		env.spawner_fd = spawner.fd;
		env.privnet_pid = privnet.pid;
		env.vmmon_pid = vmmon.pid;
		env.fsd_fd = fsd.fd;
		env.fsd_pid = fsd.pid;
		if (ops->init == NULL || ops->init(&env, &bst, &err) == 0) {
			task_service_set_backend(st.svc, ops, bst);
			backend_up = true;
			log_info("%s: backend %s ready", __func__, ops->name);
		} else {
			log_warnx(
			    "%s: backend %s: %s", __func__, ops->name, err.msg);
			task_service_free(st.svc);
			missing = err;
			qb_preferr(&missing, "qemubox %s backend", ops->name);
			st.svc = task_service_new(NULL, NULL, missing.msg,
			    events_task_event, pub, on_exit_request, &st);
			if (st.svc == NULL)
				fatal("%s: task service", __func__);
		}
	}
	if (missing.msg[0] != '\0')
		log_warnx("%s: containers cannot be created: %s", __func__,
		    missing.msg);
	task_service_set_on_closing(st.svc, on_closing, &st);

	if ((srv = ttrpc_server_new(st.loop)) == NULL)
		fatal("%s: ttrpc server", __func__);
	/* containerd's own servers only talk to their own uid; so do we. */
	ttrpc_server_require_same_uid(srv, 1);
	if (task_ttrpc_register(srv, st.svc, ecfg.ns) == -1)
		fatal("%s: register Task service", __func__);
	if (ttrpc_server_listen_fd(srv, d->listen_fd) == -1)
		fatal("%s: serve fd %d", __func__, d->listen_fd);
	d->listen_fd = -1; /* the server owns it now */
	log_info("%s: serving containerd.task.v2.Task", __func__);
	startprof_mark("serve");
	startprof_report(__func__);

	if (evloop_run(st.loop) == 0 && st.done)
		rc = 0;

	/*
	 * Answers still owed go nowhere once the server is gone (lib/ttrpc
	 * drops them); the backend may still complete ops and report exits
	 * while it winds down, so the service outlives it, and the events
	 * that produces get their chance to reach containerd.
	 */
	ttrpc_server_free(srv);
	if (backend_up && ops->fini != NULL)
		ops->fini(bst);
	events_drain(pub, SHIM_EVENTS_DRAIN_MS);
	task_service_free(st.svc);
	events_free(pub);
	/* Helpers exit when their socket closes (they see EOF). */
	if (privnet.fd != -1)
		close(privnet.fd);
	if (vmmon.fd != -1)
		close(vmmon.fd);
	if (spawner.fd != -1)
		close(spawner.fd);
	if (fsd.fd != -1)
		close(fsd.fd);
	helper_reap(&privnet);
	helper_reap(&vmmon);
	helper_reap(&spawner);
	helper_reap(&fsd);
	/* vmmon is reaped, so QEMU (in its PID namespace) is gone too. */
	if (host_up)
		sandbox_host_release(&cfg);
	evloop_free(st.loop);
	return rc;
}
