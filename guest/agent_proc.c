/*
 * The agent's process table (guest/agent_int.h): containers and their
 * processes, pid -> process on SIGCHLD, and the exit event, sent once the
 * process's output streams are closed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "guest/agent_int.h"
#include "lib/log.h"

static int
wstatus_code(int ws)
{
	if (WIFEXITED(ws))
		return WEXITSTATUS(ws);
	if (WIFSIGNALED(ws))
		return 128 + WTERMSIG(ws);
	return 255;
}

struct ctr *
ctr_find(struct agent *a, const char *id)
{
	struct ctr *c = NULL;

	for (c = a->ctrs; c != NULL; c = c->next)
		if (strcmp(c->id, id) == 0)
			return c;
	return NULL;
}

struct proc *
proc_find(struct ctr *c, const char *exec_id)
{
	struct proc *p;

	for (p = c->procs; p != NULL; p = p->next)
		if (strcmp(p->exec_id, exec_id) == 0)
			return p;
	return NULL;
}

int
lookup(struct agent *a, const char *id, const char *exec_id, struct ctr **cp,
    struct proc **pp, struct qb_error *err)
{
	struct ctr *c = NULL;
	struct proc *p = NULL;

	if ((c = ctr_find(a, id)) == NULL)
		return qb_seterr(
		    err, QB_E_NOTFOUND, "container %s not created", id);
	if (pp != NULL &&
	    (p = proc_find(c, exec_id != NULL ? exec_id : "")) == NULL)
		return qb_seterr(
		    err, QB_E_NOTFOUND, "process %s does not exist", exec_id);
	*cp = c;
	if (pp != NULL)
		*pp = p;
	return 0;
}

static void
send_exit(struct agent *a, struct proc *p)
{
	Qemubox__Guest__V1__Event ev;
	Qemubox__Guest__V1__ExitEvent ex;

	qemubox__guest__v1__event__init(&ev);
	qemubox__guest__v1__exit_event__init(&ex);
	ex.id = p->c->id;
	ex.exec_id = p->exec_id;
	ex.pid = (uint32_t)p->pid;
	ex.exit_status = (uint32_t)p->exit_status;
	ev.kind_case = QEMUBOX__GUEST__V1__EVENT__KIND_EXIT;
	ev.exit = &ex;
	if (agent_send_event(a, &ev) == -1)
		log_warn("%s: %s/%s", __func__, p->c->id, p->exec_id);
	log_debug("%s: %s exec=%s pid=%d status=%d", __func__, p->c->id,
	    p->exec_id, p->pid, p->exit_status);
}

static void
drain_tick(struct ev_timer *t, void *arg)
{
	struct proc *p = arg;

	(void)t;
	chan_pump_finish_when_empty(p->out);
	chan_pump_finish_when_empty(p->err);
	maybe_report(p->c->a, p);
}

/*
 * The exit event goes out only after the process's output streams were
 * closed (their CLOSE frames are queued before it), so the host sees all
 * output before the exit.
 */
void
maybe_report(struct agent *a, struct proc *p)
{
	if (p->reported || p->state != P_STOPPED)
		return;
	if (!chan_pump_done(p->out) || !chan_pump_done(p->err)) {
		if (p->drain == NULL)
			p->drain = evloop_timer_add(a->loop, DRAIN_TICK_NS,
			    DRAIN_TICK_NS, drain_tick, p);
		return;
	}
	if (p->drain != NULL) {
		evloop_timer_del(p->drain);
		p->drain = NULL;
	}
	p->reported = true;
	send_exit(a, p);
}

static void
proc_exited(struct proc *p, int ws)
{
	p->state = P_STOPPED;
	p->exit_status = wstatus_code(ws);
	/* stdin of a dead process: nobody will read it. */
	chan_pump_free(p->in);
	p->in = NULL;
	maybe_report(p->c->a, p);
}

static struct proc *
proc_by_pid(struct agent *a, pid_t pid)
{
	struct ctr *c = NULL;
	struct proc *p;

	for (c = a->ctrs; c != NULL; c = c->next)
		for (p = c->procs; p != NULL; p = p->next)
			if (p->pid == pid && p->state != P_STOPPED)
				return p;
	return NULL;
}

void
on_child_exit(pid_t pid, int ws, void *arg)
{
	struct agent *a = arg;
	struct proc *p;

	if ((p = proc_by_pid(a, pid)) != NULL) {
		proc_exited(p, ws);
		return;
	}
	/* Not known yet (or a stray grandchild): keep it in case it is. */
	if (a->nunclaimed == AGENT_UNCLAIMED) {
		memmove(&a->unclaimed[0], &a->unclaimed[1],
		    sizeof(a->unclaimed[0]) * (AGENT_UNCLAIMED - 1));
		a->nunclaimed--;
	}
	a->unclaimed[a->nunclaimed].pid = pid;
	a->unclaimed[a->nunclaimed].status = ws;
	a->nunclaimed++;
}

void
proc_set_pid(struct agent *a, struct proc *p, pid_t pid)
{
	size_t i;

	p->pid = pid;
	for (i = 0; i < a->nunclaimed; i++) {
		if (a->unclaimed[i].pid == pid) {
			int ws = a->unclaimed[i].status;

			a->unclaimed[i] = a->unclaimed[--a->nunclaimed];
			proc_exited(p, ws);
			return;
		}
	}
}

void
proc_free(struct proc *p)
{
	chan_pump_free(p->in);
	chan_pump_free(p->out);
	chan_pump_free(p->err);
	evloop_timer_del(p->drain);
	if (p->pty >= 0)
		close(p->pty);
	free(p->process_json);
	free(p);
}

void
proc_unlink(struct ctr *c, struct proc *p)
{
	struct proc **pp;

	for (pp = &c->procs; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == p) {
			*pp = p->next;
			return;
		}
	}
}

struct proc *
proc_new(
    struct ctr *c, const char *exec_id, const Qemubox__Guest__V1__Stdio *io)
{
	struct proc *p;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	p->c = c;
	p->pty = -1;
	snprintf(p->exec_id, sizeof(p->exec_id), "%s", exec_id);
	if (io != NULL) {
		p->sid[0] = io->stdin;
		p->sid[1] = io->stdout;
		p->sid[2] = io->stderr;
		p->terminal = io->terminal;
	}
	return p;
}
