/*
 * Container operations of the guest API (guest/agent_int.h): Create (rootfs,
 * bundle, crun create), Start, Exec, Kill, Delete, State, Pids, Pause,
 * Resume, Update, Stats.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "guest/agent_int.h"
#include "guest/agent_rootfs.h"
#include "guest/agent_stats.h"
#include "guest/crun.h"
#include "guest/gfile.h"
#include "guest/net_config.h"
#include "lib/log.h"
#include "lib/qb_id.h"

void
ctr_free(struct agent *a, struct ctr *c)
{
	struct proc *p, *np;
	struct ctr **cp;
	char path[PATH_MAX];
	int i;

	if (c->oom_wd >= 0 && a->ino_fd >= 0)
		(void)inotify_rm_watch(a->ino_fd, c->oom_wd);
	for (p = c->procs; p != NULL; p = np) {
		np = p->next;
		proc_free(p);
	}
	rootfs_unmount(c->dir, c->nlayers);
	/* Best effort: the state dir holds only files we wrote. */
	for (i = 0; i < AGENT_MAX_FILES; i++) {
		snprintf(path, sizeof(path), "%s/files/%d", c->dir, i);
		(void)unlink(path);
	}
	snprintf(path, sizeof(path), "%s/files", c->dir);
	(void)rmdir(path);
	const char *names[] = {"config.json", "init.pid", "resources.json"};
	for (i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/%s", c->dir, names[i]);
		(void)unlink(path);
	}
	(void)rmdir(c->dir);
	for (cp = &a->ctrs; *cp != NULL; cp = &(*cp)->next) {
		if (*cp == c) {
			*cp = c->next;
			break;
		}
	}
	free(c);
}

int
h_create(struct agent *a, const uint8_t *b, size_t n, ProtobufCMessage **out,
    struct qb_error *err)
{
	Qemubox__Guest__V1__CreateRequest *req;
	Qemubox__Guest__V1__CreateResponse *resp;
	struct rootfs_layer layers[128];
	struct bundle_file files[AGENT_MAX_FILES];
	char fpaths[AGENT_MAX_FILES][PATH_MAX], rootfs[PATH_MAX],
	    pidf[PATH_MAX];
	char sock[PATH_MAX];
	int child[3] = {-1, -1, -1}, ours[3] = {-1, -1, -1}, lfd = -1;
	struct ctr *c = NULL;
	struct proc *p = NULL;
	size_t i;
	pid_t pid;

	if ((req = qemubox__guest__v1__create_request__unpack(NULL, n, b)) ==
	    NULL)
		return qb_seterr(err, QB_E_INVALID, "bad CreateRequest");
	if (!qb_id_valid(req->id)) {
		qb_seterr(err, QB_E_INVALID, "invalid container id");
		goto fail;
	}
	if (ctr_find(a, req->id) != NULL) {
		qb_seterr(err, QB_E_EXISTS, "container %s exists", req->id);
		goto fail;
	}
	if (req->n_layers > 128 || req->n_files > AGENT_MAX_FILES) {
		qb_seterr(err, QB_E_INVALID, "too many layers or files");
		goto fail;
	}
	if (check_stdio(a, req->stdio, err) == -1)
		goto fail;
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		qb_seterr(err, QB_E_INTERNAL, "out of memory");
		goto fail;
	}
	c->a = a;
	c->oom_wd = -1;
	snprintf(c->id, sizeof(c->id), "%s", req->id);
	snprintf(c->dir, sizeof(c->dir), "%s/%s", AGENT_STATE_DIR, req->id);
	c->nlayers = req->n_layers;
	if (mkdir(c->dir, 0711) == -1)
		goto fail_errno;
	c->next = a->ctrs;
	a->ctrs = c;

	for (i = 0; i < req->n_layers; i++) {
		layers[i].serial = req->layers[i]->serial;
		layers[i].fstype = req->layers[i]->fstype;
	}
	if (rootfs_mount(c->dir, layers, req->n_layers, req->scratch_serial,
	        req->tmpfs_size_mb, err) == -1 ||
	    rootfs_volumes_mount(req->volumes_tag, err) == -1)
		goto fail;
	if (req->n_files > 0) {
		snprintf(fpaths[0], sizeof(fpaths[0]), "%s/files", c->dir);
		if (mkdir(fpaths[0], 0755) == -1)
			goto fail_errno;
	}
	for (i = 0; i < req->n_files; i++) {
		const char *dest = req->files[i]->path;

		if (dest[0] != '/' || strstr(dest, "..") != NULL ||
		    strlen(dest) >= PATH_MAX) {
			qb_seterr(err, QB_E_INVALID, "file path %s", dest);
			goto fail;
		}
		snprintf(
		    fpaths[i], sizeof(fpaths[i]), "%s/files/%zu", c->dir, i);
		if (gfile_write(fpaths[i], req->files[i]->data.data,
		        req->files[i]->data.len, O_CREAT | O_TRUNC,
		        req->files[i]->mode ? req->files[i]->mode : 0644) == -1)
			goto fail_errno;
		files[i].dest = dest;
		files[i].src = fpaths[i];
	}
	snprintf(rootfs, sizeof(rootfs), "%s/rootfs", c->dir);
	if (crun_write_bundle(c->dir, req->spec.data, req->spec.len, rootfs,
	        req->stdio != NULL && req->stdio->terminal, files, req->n_files,
	        err) == -1)
		goto fail;

	if ((p = proc_new(c, "", req->stdio)) == NULL)
		goto fail_errno;
	snprintf(sock, sizeof(sock), "%s/con.sock", c->dir);
	if (p->terminal) {
		if ((lfd = crun_console_listen(sock)) == -1)
			goto fail_errno;
	} else if (stdio_pipes(p, child, ours) == -1)
		goto fail_errno;
	snprintf(pidf, sizeof(pidf), "%s/init.pid", c->dir);
	const char *args[] = {"create", "--bundle", c->dir, "--pid-file", pidf,
	    c->id, NULL, NULL, NULL};
	if (p->terminal) {
		args[5] = "--console-socket";
		args[6] = sock;
		args[7] = c->id;
	}
	if (crun_cmd(args, child, err) == -1)
		goto fail;
	close_fds(child);
	if (p->terminal && tty_fds(p, lfd, ours) == -1) {
		qb_seterr(
		    err, QB_E_INTERNAL, "console socket: %s", strerror(errno));
		goto fail_delete;
	}
	if ((pid = crun_read_pid(pidf)) == -1) {
		qb_seterr(err, QB_E_INTERNAL, "crun wrote no pid");
		goto fail_delete;
	}
	p->pid = pid;
	c->procs = p;
	if (attach_pumps(a, p, ours, err) == -1) {
		c->procs = NULL;
		goto fail_delete;
	}
	proc_set_pid(a, p, pid);
	oom_watch(a, c);

	resp = malloc(sizeof(*resp));
	qemubox__guest__v1__create_response__init(resp);
	resp->pid = (uint32_t)pid;
	*out = &resp->base;
	if (lfd >= 0) {
		close(lfd);
		unlink(sock);
	}
	qemubox__guest__v1__create_request__free_unpacked(req, NULL);
	return 0;

fail_delete : {
	const char *dargs[] = {"delete", "--force", c->id, NULL};
	struct qb_error e2;

	(void)crun_cmd(dargs, NULL, &e2);
	goto fail;
}
fail_errno:
	qb_seterr(err, QB_E_INTERNAL, "create: %s", strerror(errno));
fail:
	close_fds(child);
	close_fds(ours);
	if (lfd >= 0) {
		close(lfd);
		unlink(sock);
	}
	if (p != NULL && c != NULL && c->procs != p)
		proc_free(p);
	if (c != NULL && ctr_find(a, c->id) == c)
		ctr_free(a, c);
	else
		free(c);
	qemubox__guest__v1__create_request__free_unpacked(req, NULL);
	return -1;
}

static int
start_exec(struct agent *a, struct ctr *c, struct proc *p, struct qb_error *err)
{
	char procf[PATH_MAX], pidf[PATH_MAX], sock[PATH_MAX];
	int child[3] = {-1, -1, -1}, ours[3] = {-1, -1, -1}, lfd = -1, rc = -1;
	pid_t pid;

	snprintf(procf, sizeof(procf), "%s/exec-%s.json", c->dir, p->exec_id);
	snprintf(pidf, sizeof(pidf), "%s/exec-%s.pid", c->dir, p->exec_id);
	snprintf(sock, sizeof(sock), "%s/con.sock", c->dir);
	if (!p->terminal) {
		if (stdio_pipes(p, child, ours) == -1) {
			qb_seterr(
			    err, QB_E_INTERNAL, "pipe: %s", strerror(errno));
			goto out;
		}
		/* The agent starts it itself unless the spec needs crun. */
		if ((rc = exec_direct(c, p, child, err)) == 0) {
			pid = p->pid;
			goto started;
		}
		if (rc == -1)
			goto out;
		rc = -1;
	}
	if (crun_write_process(
	        procf, p->process_json, p->process_len, p->terminal, err) == -1)
		goto out;
	if (p->terminal) {
		if ((lfd = crun_console_listen(sock)) == -1) {
			qb_seterr(err, QB_E_INTERNAL, "console socket: %s",
			    strerror(errno));
			goto out;
		}
	}
	const char *args[] = {"exec", "--detach", "--pid-file", pidf,
	    "--process", procf, c->id, NULL, NULL, NULL};
	if (p->terminal) {
		args[6] = "--console-socket";
		args[7] = sock;
		args[8] = c->id;
	}
	if (crun_cmd(args, child, err) == -1)
		goto out;
	close_fds(child);
	pid = crun_read_pid(pidf);
	if (pid == -1) {
		qb_seterr(err, QB_E_INTERNAL, "crun wrote no pid");
		goto out;
	}
started:
	close_fds(child);
	p->state = P_RUNNING;
	p->pid = pid;
	if ((p->terminal && tty_fds(p, lfd, ours) == -1) ||
	    attach_pumps(a, p, ours, err) == -1) {
		if (err->code == 0)
			qb_seterr(
			    err, QB_E_INTERNAL, "console: %s", strerror(errno));
		kill(pid, SIGKILL);
		goto out;
	}
	proc_set_pid(a, p, pid);
	rc = 0;
out:
	close_fds(child);
	close_fds(ours);
	if (lfd >= 0) {
		close(lfd);
		unlink(sock);
	}
	unlink(procf);
	unlink(pidf);
	return rc;
}

int
h_start(struct agent *a, const uint8_t *b, size_t n, ProtobufCMessage **out,
    struct qb_error *err)
{
	Qemubox__Guest__V1__StartRequest *req;
	Qemubox__Guest__V1__StartResponse *resp;
	struct ctr *c = NULL;
	struct proc *p;
	int rc = -1;

	if ((req = qemubox__guest__v1__start_request__unpack(NULL, n, b)) ==
	    NULL)
		return qb_seterr(err, QB_E_INVALID, "bad StartRequest");
	if (lookup(a, req->id, req->exec_id, &c, &p, err) == -1)
		goto out;
	if (p->state != P_CREATED) {
		qb_seterr(err, QB_E_PRECONDITION, "process already started");
		goto out;
	}
	if (p->exec_id[0] == '\0') {
		const char *args[] = {"start", c->id, NULL};

		/* Its first command sees eth0 as a booted host's services
		 * do: running (guest/net_config.c). */
		(void)net_link_wait_running(NET_RUNNING_WAIT_MS);

		if (crun_cmd(args, NULL, err) == -1)
			goto out;
		/* The init may already have exited and been reaped: keep that.
		 */
		if (p->state == P_CREATED)
			p->state = P_RUNNING;
	} else if (start_exec(a, c, p, err) == -1)
		goto out;
	resp = malloc(sizeof(*resp));
	qemubox__guest__v1__start_response__init(resp);
	resp->pid = (uint32_t)p->pid;
	*out = &resp->base;
	rc = 0;
out:
	qemubox__guest__v1__start_request__free_unpacked(req, NULL);
	return rc;
}

int
h_exec(struct agent *a, const uint8_t *b, size_t n, ProtobufCMessage **out,
    struct qb_error *err)
{
	Qemubox__Guest__V1__ExecRequest *req;
	struct ctr *c = NULL;
	struct proc *p;
	int rc = -1;

	(void)out;
	if ((req = qemubox__guest__v1__exec_request__unpack(NULL, n, b)) ==
	    NULL)
		return qb_seterr(err, QB_E_INVALID, "bad ExecRequest");
	if (lookup(a, req->id, NULL, &c, NULL, err) == -1)
		goto out;
	if (!qb_id_valid(req->exec_id)) {
		qb_seterr(err, QB_E_INVALID, "invalid exec id");
		goto out;
	}
	if (proc_find(c, req->exec_id) != NULL) {
		qb_seterr(err, QB_E_EXISTS, "exec %s exists", req->exec_id);
		goto out;
	}
	if (c->procs == NULL || c->procs->state != P_RUNNING) {
		qb_seterr(err, QB_E_PRECONDITION, "container %s is not running",
		    c->id);
		goto out;
	}
	if (check_stdio(a, req->stdio, err) == -1)
		goto out;
	if ((p = proc_new(c, req->exec_id, req->stdio)) == NULL ||
	    (p->process_json = malloc(req->process.len + 1)) == NULL) {
		free(p);
		qb_seterr(err, QB_E_INTERNAL, "out of memory");
		goto out;
	}
	memcpy(p->process_json, req->process.data, req->process.len);
	p->process_len = req->process.len;
	/* After init, so the list stays init first. */
	p->next = c->procs->next;
	c->procs->next = p;
	rc = 0;
out:
	qemubox__guest__v1__exec_request__free_unpacked(req, NULL);
	return rc;
}

int
h_kill(struct agent *a, const uint8_t *b, size_t n, ProtobufCMessage **out,
    struct qb_error *err)
{
	Qemubox__Guest__V1__KillRequest *req;
	struct ctr *c = NULL;
	struct proc *p;
	char sig[16];
	int rc = -1;

	(void)out;
	if ((req = qemubox__guest__v1__kill_request__unpack(NULL, n, b)) ==
	    NULL)
		return qb_seterr(err, QB_E_INVALID, "bad KillRequest");
	if (lookup(a, req->id, req->exec_id, &c, &p, err) == -1)
		goto out;
	if (req->signal == 0 || req->signal >= 65) {
		qb_seterr(err, QB_E_INVALID, "signal %u", req->signal);
		goto out;
	}
	if (req->all && p->exec_id[0] == '\0') {
		const char *args[] = {"kill", "--all", c->id, sig, NULL};

		snprintf(sig, sizeof(sig), "%u", req->signal);
		rc = crun_cmd(args, NULL, err);
		goto out;
	}
	if (p->state == P_CREATED && p->exec_id[0] != '\0') {
		qb_seterr(err, QB_E_PRECONDITION, "process not started");
		goto out;
	}
	if (p->state == P_STOPPED || p->pid <= 1) {
		qb_seterr(err, QB_E_NOTFOUND, "process already finished");
		goto out;
	}
	if (kill(p->pid, (int)req->signal) == -1) {
		qb_seterr(err, errno == ESRCH ? QB_E_NOTFOUND : QB_E_INTERNAL,
		    "kill: %s", strerror(errno));
		goto out;
	}
	rc = 0;
out:
	qemubox__guest__v1__kill_request__free_unpacked(req, NULL);
	return rc;
}

int
h_delete(struct agent *a, const uint8_t *b, size_t n, ProtobufCMessage **out,
    struct qb_error *err)
{
	Qemubox__Guest__V1__DeleteRequest *req;
	Qemubox__Guest__V1__DeleteResponse *resp;
	struct ctr *c = NULL;
	struct proc *p;
	int rc = -1;

	if ((req = qemubox__guest__v1__delete_request__unpack(NULL, n, b)) ==
	    NULL)
		return qb_seterr(err, QB_E_INVALID, "bad DeleteRequest");
	if (lookup(a, req->id, req->exec_id, &c, &p, err) == -1)
		goto out;
	if (p->state == P_RUNNING) {
		qb_seterr(err, QB_E_PRECONDITION, "process %s is running",
		    p->exec_id);
		goto out;
	}
	resp = malloc(sizeof(*resp));
	qemubox__guest__v1__delete_response__init(resp);
	resp->pid = (uint32_t)p->pid;
	resp->exit_status = (uint32_t)p->exit_status;
	if (p->exec_id[0] == '\0') {
		const char *args[] = {"delete", "--force", c->id, NULL};

		if (crun_cmd(args, NULL, err) == -1) {
			free(resp);
			goto out;
		}
		ctr_free(a, c);
	} else {
		proc_unlink(c, p);
		proc_free(p);
	}
	*out = &resp->base;
	rc = 0;
out:
	qemubox__guest__v1__delete_request__free_unpacked(req, NULL);
	return rc;
}

int
h_state(struct agent *a, const uint8_t *b, size_t n, ProtobufCMessage **out,
    struct qb_error *err)
{
	Qemubox__Guest__V1__StateRequest *req;
	Qemubox__Guest__V1__StateResponse *resp;
	struct ctr *c = NULL;
	struct proc *p;
	int rc = -1;

	if ((req = qemubox__guest__v1__state_request__unpack(NULL, n, b)) ==
	    NULL)
		return qb_seterr(err, QB_E_INVALID, "bad StateRequest");
	if (lookup(a, req->id, req->exec_id, &c, &p, err) == -1)
		goto out;
	resp = malloc(sizeof(*resp));
	qemubox__guest__v1__state_response__init(resp);
	resp->id = strdup(c->id);
	resp->exec_id = strdup(p->exec_id);
	resp->pid = (uint32_t)(p->pid > 0 ? p->pid : 0);
	resp->exit_status = (uint32_t)p->exit_status;
	resp->terminal = p->terminal;
	switch (p->state) {
	case P_CREATED:
		resp->status = QEMUBOX__GUEST__V1__STATUS__CREATED;
		break;
	case P_RUNNING:
		resp->status = c->paused ? QEMUBOX__GUEST__V1__STATUS__PAUSED
		                         : QEMUBOX__GUEST__V1__STATUS__RUNNING;
		break;
	case P_STOPPED:
		resp->status = QEMUBOX__GUEST__V1__STATUS__STOPPED;
		break;
	}
	*out = &resp->base;
	rc = 0;
out:
	qemubox__guest__v1__state_request__free_unpacked(req, NULL);
	return rc;
}

/* The container's cgroup directory, from its init's /proc/PID/cgroup. */
int
ctr_cgroup(struct ctr *c, char *out, size_t outlen)
{
	char path[64], line[1024];
	FILE *f;
	int rc = -1;

	if (c->procs == NULL || c->procs->pid <= 1 ||
	    c->procs->state == P_STOPPED) {
		errno = ESRCH;
		return -1;
	}
	snprintf(path, sizeof(path), "/proc/%d/cgroup", c->procs->pid);
	if ((f = fopen(path, "re")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "0::", 3) != 0)
			continue;
		line[strcspn(line, "\n")] = '\0';
		snprintf(out, outlen, "/sys/fs/cgroup%s", line + 3);
		rc = 0;
		break;
	}
	fclose(f);
	return rc;
}

int
h_pids(struct agent *a, const uint8_t *b, size_t n, ProtobufCMessage **out,
    struct qb_error *err)
{
	Qemubox__Guest__V1__PidsRequest *req;
	Qemubox__Guest__V1__PidsResponse *resp = NULL;
	Qemubox__Guest__V1__ProcessInfo *pi;
	struct ctr *c = NULL;
	struct proc *p;
	char cg[PATH_MAX], path[PATH_MAX + 16];
	FILE *f = NULL;
	long v;
	size_t cap = 0;
	int rc = -1;

	if ((req = qemubox__guest__v1__pids_request__unpack(NULL, n, b)) ==
	    NULL)
		return qb_seterr(err, QB_E_INVALID, "bad PidsRequest");
	if (lookup(a, req->id, NULL, &c, NULL, err) == -1)
		goto out;
	resp = calloc(1, sizeof(*resp));
	qemubox__guest__v1__pids_response__init(resp);
	*out = &resp->base;
	rc = 0;
	if (ctr_cgroup(c, cg, sizeof(cg)) == -1)
		goto out; /* not running: no processes */
	snprintf(path, sizeof(path), "%s/cgroup.procs", cg);
	if ((f = fopen(path, "re")) == NULL)
		goto out;
	while (fscanf(f, "%ld", &v) == 1) {
		if (resp->n_processes == cap) {
			cap = cap ? cap * 2 : 16;
			resp->processes = realloc(
			    resp->processes, cap * sizeof(*resp->processes));
		}
		pi = malloc(sizeof(*pi));
		qemubox__guest__v1__process_info__init(pi);
		pi->pid = (uint32_t)v;
		for (p = c->procs; p != NULL; p = p->next)
			if (p->pid == v && p->exec_id[0] != '\0')
				pi->exec_id = strdup(p->exec_id);
		resp->processes[resp->n_processes++] = pi;
	}
	fclose(f);
out:
	qemubox__guest__v1__pids_request__free_unpacked(req, NULL);
	return rc;
}

static int
simple_crun(
    struct agent *a, const char *verb, const char *id, struct qb_error *err)
{
	struct ctr *c = NULL;
	const char *args[] = {verb, id, NULL};

	if (lookup(a, id, NULL, &c, NULL, err) == -1)
		return -1;
	if (crun_cmd(args, NULL, err) == -1)
		return -1;
	c->paused = strcmp(verb, "pause") == 0;
	return 0;
}

int
h_pause(struct agent *a, const uint8_t *b, size_t n, ProtobufCMessage **out,
    struct qb_error *err)
{
	Qemubox__Guest__V1__PauseRequest *req;
	int rc;

	(void)out;
	if ((req = qemubox__guest__v1__pause_request__unpack(NULL, n, b)) ==
	    NULL)
		return qb_seterr(err, QB_E_INVALID, "bad PauseRequest");
	rc = simple_crun(a, "pause", req->id, err);
	qemubox__guest__v1__pause_request__free_unpacked(req, NULL);
	return rc;
}

int
h_resume(struct agent *a, const uint8_t *b, size_t n, ProtobufCMessage **out,
    struct qb_error *err)
{
	Qemubox__Guest__V1__ResumeRequest *req;
	int rc;

	(void)out;
	if ((req = qemubox__guest__v1__resume_request__unpack(NULL, n, b)) ==
	    NULL)
		return qb_seterr(err, QB_E_INVALID, "bad ResumeRequest");
	rc = simple_crun(a, "resume", req->id, err);
	qemubox__guest__v1__resume_request__free_unpacked(req, NULL);
	return rc;
}

int
h_update(struct agent *a, const uint8_t *b, size_t n, ProtobufCMessage **out,
    struct qb_error *err)
{
	Qemubox__Guest__V1__UpdateRequest *req;
	struct ctr *c = NULL;
	char path[PATH_MAX];
	int rc = -1;

	(void)out;
	if ((req = qemubox__guest__v1__update_request__unpack(NULL, n, b)) ==
	    NULL)
		return qb_seterr(err, QB_E_INVALID, "bad UpdateRequest");
	if (lookup(a, req->id, NULL, &c, NULL, err) == -1)
		goto out;
	snprintf(path, sizeof(path), "%s/resources.json", c->dir);
	if (gfile_write(path, req->resources.data, req->resources.len,
	        O_CREAT | O_TRUNC, 0600) == -1) {
		qb_seterr(
		    err, QB_E_INTERNAL, "write resources: %s", strerror(errno));
		goto out;
	}
	const char *args[] = {"update", "--resources", path, c->id, NULL};
	rc = crun_cmd(args, NULL, err);
out:
	qemubox__guest__v1__update_request__free_unpacked(req, NULL);
	return rc;
}

int
h_stats(struct agent *a, const uint8_t *b, size_t n, ProtobufCMessage **out,
    struct qb_error *err)
{
	Qemubox__Guest__V1__StatsRequest *req;
	Qemubox__Guest__V1__StatsResponse *resp;
	struct ctr *c = NULL;
	char cg[PATH_MAX];
	uint8_t *buf;
	size_t len;
	int rc = -1;

	if ((req = qemubox__guest__v1__stats_request__unpack(NULL, n, b)) ==
	    NULL)
		return qb_seterr(err, QB_E_INVALID, "bad StatsRequest");
	if (lookup(a, req->id, NULL, &c, NULL, err) == -1)
		goto out;
	if (ctr_cgroup(c, cg, sizeof(cg)) == -1) {
		qb_seterr(
		    err, QB_E_NOTFOUND, "container %s is not running", c->id);
		goto out;
	}
	if (agent_cgroup_metrics(cg, &buf, &len) == -1) {
		qb_seterr(err, QB_E_INTERNAL, "stats: %s", strerror(errno));
		goto out;
	}
	resp = malloc(sizeof(*resp));
	qemubox__guest__v1__stats_response__init(resp);
	resp->metrics.data = buf;
	resp->metrics.len = len;
	*out = &resp->base;
	rc = 0;
out:
	qemubox__guest__v1__stats_request__free_unpacked(req, NULL);
	return rc;
}
