/*
 * Inside the guest API agent (guest/agent.h): the container and process
 * table every part shares, and what each file offers the others.
 *
 *   guest/agent.c        the host channel, request dispatch, events out
 *   guest/agent_proc.c   process table: lookup, exits, exit events
 *   guest/agent_stdio.c  stdio pipes / pty, stream pumps, ResizePty
 *   guest/agent_ctr.c    container RPCs (Create .. Stats) via crun
 *   guest/agent_exec.c   an exec's process started without crun
 *   guest/agent_oom.c    OOM events from memory.events
 *   guest/agent_vm.c     VM RPCs (Ping, Online*, VmStats, ConfigureNetwork,
 *                        Shutdown)
 */
#ifndef QEMUBOX_GUEST_AGENT_INT_H
#define QEMUBOX_GUEST_AGENT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/chan.h"
#include "lib/chan_pump.h"
#include "lib/error.h"
#include "lib/evloop.h"
#include "lib/qb_id.h"
#include "proto/guest.pb-c.h"

#define AGENT_STATE_DIR "/run/qemubox/ctr"
#define AGENT_ID_MAX    QB_ID_LEN_MAX
#define AGENT_MAX_FILES 16
#define AGENT_UNCLAIMED 64
/* After a process exits, how often we look whether its output is done. */
#define DRAIN_TICK_NS (200ull * 1000 * 1000)

enum proc_state { P_CREATED, P_RUNNING, P_STOPPED };

struct ctr;
struct pid1_info;

struct proc {
	struct ctr *c;
	struct proc *next;
	char exec_id[AGENT_ID_MAX + 1]; /* "" = init */
	pid_t pid;
	enum proc_state state;
	int exit_status;
	bool reported;
	bool terminal;
	uint32_t sid[3];
	struct chan_pump *in, *out, *err;
	int pty; /* terminal: the pty master, for ResizePty; else -1 */
	uint8_t *process_json; /* exec, until started */
	size_t process_len;
	struct ev_timer *drain;
};

struct agent;

struct ctr {
	struct agent *a;
	struct ctr *next;
	char id[AGENT_ID_MAX + 1];
	char dir[128]; /* AGENT_STATE_DIR/<id> */
	size_t nlayers;
	bool paused;
	int oom_wd;         /* inotify watch on memory.events, -1 if none */
	char oom_path[256]; /* that memory.events: kept after the init died */
	uint64_t oom_kills;
	struct proc *procs; /* init first */
};

struct agent {
	struct pid1_info *info;
	struct evloop *loop;
	struct chan *ch;
	int chan_fd;
	struct ev_io *chan_io;
	struct ev_io *sig_io;
	int ino_fd; /* inotify: memory.events of every container (OOM) */
	struct ev_io *ino_io;
	struct ctr *ctrs;
	bool host_seen;
	bool stopping;
	int rc;
	struct {
		pid_t pid;
		int status;
	} unclaimed[AGENT_UNCLAIMED];
	size_t nunclaimed;
};

/*
 * An RPC handler: the request's payload in, a response message out (*out,
 * left NULL for an empty answer); -1 with err filled on failure.
 */
typedef int agent_handler(struct agent *a, const uint8_t *req, size_t n,
    ProtobufCMessage **out, struct qb_error *err);

/* guest/agent.c */
/* Pack and send one event frame. Returns 0, or -1 with errno. */
int agent_send_event(struct agent *a, const Qemubox__Guest__V1__Event *ev);

/* guest/agent_proc.c */
struct ctr *ctr_find(struct agent *a, const char *id);
struct proc *proc_find(struct ctr *c, const char *exec_id);
/* The container id (and process exec_id unless pp is NULL), or NOTFOUND. */
int lookup(struct agent *a, const char *id, const char *exec_id,
    struct ctr **cp, struct proc **pp, struct qb_error *err);
struct proc *proc_new(
    struct ctr *c, const char *exec_id, const Qemubox__Guest__V1__Stdio *io);
void proc_unlink(struct ctr *c, struct proc *p);
void proc_free(struct proc *p);
/* The pid crun reported; an exit already reaped for it is applied now. */
void proc_set_pid(struct agent *a, struct proc *p, pid_t pid);
/* Send the exit event once the process stopped and its output is done. */
void maybe_report(struct agent *a, struct proc *p);
/* pid1_signals()'s callback: a child exited. */
void on_child_exit(pid_t pid, int ws, void *arg);

/* guest/agent_stdio.c */
int check_stdio(
    struct agent *a, const Qemubox__Guest__V1__Stdio *io, struct qb_error *err);
int stdio_pipes(const struct proc *p, int child[3], int ours[3]);
int tty_fds(struct proc *p, int lfd, int ours[3]);
void close_fds(int fds[3]);
int attach_pumps(
    struct agent *a, struct proc *p, int ours[3], struct qb_error *err);

/* guest/agent_ctr.c */
void ctr_free(struct agent *a, struct ctr *c);
/* The container's cgroup directory, from its init's /proc/PID/cgroup. */
int ctr_cgroup(struct ctr *c, char *out, size_t outlen);

/* guest/agent_exec.c */
/*
 * Start exec'd process p (stdio child fds, -1: /dev/null) without crun:
 * 0 started (p->pid), 1 its spec needs crun (nothing done), -1 failed.
 */
int exec_direct(
    struct ctr *c, struct proc *p, const int fds[3], struct qb_error *err);

/* guest/agent_oom.c */
void oom_watch(struct agent *a, struct ctr *c);
void ino_io_cb(struct ev_io *io, int fd, unsigned events, void *arg);

/* The RPC handlers, one per method (the table is in guest/agent.c). */
agent_handler h_create, h_start, h_exec, h_kill, h_delete, h_state, h_pids,
    h_pause, h_resume, h_update, h_stats; /* guest/agent_ctr.c */
agent_handler h_resize_pty;               /* guest/agent_stdio.c */
agent_handler h_ping, h_online_cpus, h_online_memory, h_vm_stats,
    h_configure_network, h_set_identity, h_shutdown; /* guest/agent_vm.c */

#endif
