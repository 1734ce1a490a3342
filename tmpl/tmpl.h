/*
 * qemubox-tmpl, the template holder (issue 19, cloning): one per host,
 * long-lived. It boots one template VM through its own qemubox-vmmon
 * (ram_mode TEMPLATE: guest RAM in a memfd it created), waits for the
 * guest's Ready, has vmmon SAVE the device state and quit QEMU, seals the
 * memfd (W|SHRINK|GROW|SEAL) and keeps both fds. Then it answers GET_REQs
 * from uid-0 peers on its unix socket: a template that matches what the
 * caller would boot, or ENOENT (docs/PERFORMANCE.md "Pre-booted VMs and
 * cloning", imsg/qemubox_imsg.h IMSG_TMPL_*).
 *
 * Files: tmpl.c (entry point, start-up, loop), tmpl_priv.c (what is done
 * as root, then the drop), tmpl_boot.c (the template's boot and save,
 * retries), tmpl_serve.c (the socket, tmpl_dispatch_shim), tmpl_match.c
 * (pure: does a request match the template).
 */
#ifndef QEMUBOX_TMPL_H
#define QEMUBOX_TMPL_H

#include <sys/types.h>

#include <stdbool.h>
#include <stdint.h>

#include "imsg/qemubox_imsg.h"
#include "lib/config.h"

/* Boot attempts; each has its vmmon, spawned while the holder is root. */
#define TMPL_ATTEMPTS 3
/* Back-off before attempt n (1-based): TMPL_BACKOFF_MS << (n - 1). */
#define TMPL_BACKOFF_MS 5000
/* The template's NIC: a locally administered MAC clones inherit. */
#define TMPL_MAC                                   \
	{                                          \
		0x02, 0x71, 0x62, 0x74, 0x00, 0x01 \
	}
#define TMPL_SOCK_NAME "tmpl.sock"

struct evloop;
struct vmmon_client;
struct guest_client;

struct tmpl {
	struct qb_config cfg;
	bool debug;
	struct evloop *loop;
	char dir[4096]; /* <state_dir>/tmpl, root 0700 */
	int lock_fd, listen_fd;
	/* what the template boots from, opened as root */
	int kernel_fd, initrd_fd, tap_fd;
	uid_t uid; /* the holder's and its vmmon's */
	gid_t gid;
	/* vmmons spawned at start-up, one per attempt */
	int vmmon_fd[TMPL_ATTEMPTS];
	pid_t vmmon_pid[TMPL_ATTEMPTS];
	int attempts; /* used so far */
	/* the boot in progress */
	struct vmmon_client *vm;
	struct guest_client *gc;
	int chan_fd, ram_fd, state_fd;
	bool saving;
	bool attempt_over; /* failed or saved: later callbacks are moot */
	uint64_t save_t0;  /* SAVE asked (evloop_now_ns) */
	/* what it boots, and what GET_REQs must match */
	struct qb_vmm_start_req start;
	struct qb_tmpl_get_req have;
	/* the ready template */
	bool ready;
	struct qb_tmpl_res res;
	int tpl_ram_fd, tpl_state_fd;
};

extern struct tmpl tmpl;

/* tmpl_priv.c: as root, in this order; then the drop (no way back). */
int tmpl_lock_and_listen(struct tmpl *t);
int tmpl_open_guest(struct tmpl *t);
int tmpl_make_tap(struct tmpl *t);
int tmpl_pick_uid(struct tmpl *t);
int tmpl_spawn_vmmons(struct tmpl *t);
void tmpl_priv_drop(struct tmpl *t);

/* tmpl_boot.c */
void tmpl_boot_start(void);
void tmpl_children_reap(void);

/* tmpl_serve.c */
int tmpl_serve_start(void);

/* tmpl_match.c (pure): 0 when want matches have, else -1 and why. */
int tmpl_match(const struct qb_tmpl_get_req *want,
    const struct qb_tmpl_get_req *have, char *why, size_t len);

#endif
