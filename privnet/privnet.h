/*
 * qemubox-privnet internals: the pieces privnet.c (the process), cleanup.c
 * (qemubox-cleanup) and the tests share. Every function follows the project
 * convention: 0 / -1 with errno, and a struct qb_error for what a user reads.
 */
#ifndef QEMUBOX_PRIVNET_H
#define QEMUBOX_PRIVNET_H

#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "imsg/qemubox_imsg.h"
#include "lib/config.h"
#include "lib/error.h"
#include "lib/owner.h"
#include "privnet/cni_result.h"

#define PRIVNET_NETNS_DIR    "/run/netns"
#define PRIVNET_NETNS_PREFIX "qemubox-"
#define PRIVNET_IFNAME       "eth0" /* CNI_IFNAME, the veth end in the netns */
#define PRIVNET_TAPNAME      "qbtap0" /* the TAP next to it */
#define CNI_MAX_PLUGINS      16
#define CNI_TYPE_MAX         64

/* --- validation (privnet_validate.c): the boundary checks --- */

/* [A-Za-z0-9][A-Za-z0-9_.-]*, 1..QB_ID_MAX-1 bytes. */
int privnet_valid_id(const char *id);
/* 1..IFNAMSIZ-1 bytes, no '/', no whitespace, not "." or "..". */
int privnet_valid_ifname(const char *name);
/*
 * A CRI netns path: absolute, no "." or ".." component, no "//", shorter than
 * QB_NETNS_PATH_MAX, under /run/netns/ or /var/run/netns/. The file itself is
 * checked later (netns_check()).
 */
int privnet_valid_netns_path(const char *path);
/* CNI network names and plugin types: [A-Za-z0-9][A-Za-z0-9_.-]*. */
int privnet_valid_cni_name(const char *s, size_t max);

/* --- CNI configuration (cni_config.c) --- */

struct cni_conflist {
	char path[PATH_MAX];
	char name[QB_DNS_NAME_MAX];
	char cni_version[16];
	unsigned n_plugins;
	char types[CNI_MAX_PLUGINS][CNI_TYPE_MAX];
	json_object *root;
	char *bytes; /* the file as read, stored for DEL after a crash */
	size_t len;
};

#define CNI_CONFLIST_MAX_BYTES (256 * 1024)

/* The first *.conflist in dir, alphabetically. */
int cni_conflist_find(
    const char *dir, char *path, size_t pathlen, struct qb_error *err);
int cni_conflist_load(
    const char *path, struct cni_conflist *cl, struct qb_error *err);
int cni_conflist_parse(
    const char *buf, size_t len, struct cni_conflist *cl, struct qb_error *err);
void cni_conflist_free(struct cni_conflist *cl);
/*
 * The stdin of plugin i: its object with "name" and "cniVersion" of the list
 * and "prevResult" (when prev_result is not NULL) injected. malloc'd, NUL
 * terminated; *len excludes the NUL.
 */
char *cni_plugin_config(const struct cni_conflist *cl, unsigned i,
    const char *prev_result, size_t *len, struct qb_error *err);

/* Shared JSON reader with size and depth limits (cni_result.c). */
json_object *cni_json_parse(
    const char *buf, size_t len, struct qb_error *err, const char *what);

/* --- plugin execution (cni_exec.c) --- */

struct cni_call {
	const char *command; /* ADD, DEL, CHECK */
	const char *container_id;
	const char *netns;
	const char *ifname;
};

/*
 * Run one plugin `type` found in cfg's bin dirs with `stdin_buf` as stdin.
 * On success *out (malloc'd, NUL-terminated, may be empty) is its stdout.
 * On failure err holds the CNI error object or the plugin's stderr.
 */
int cni_exec_plugin(const struct qb_config *cfg, const char *type,
    const struct cni_call *call, const char *stdin_buf, size_t stdin_len,
    char **out, size_t *outlen, struct qb_error *err);

/*
 * The whole chain. ADD: plugins in order, each given the previous result;
 * on failure DEL of the chain (reverse) so nothing stays allocated, and
 * *result is NULL. progress (may be NULL) gets each intermediate result so
 * a DEL after a crash has the best prevResult there is. DEL: reverse order with
 * prev_result; every plugin runs even if one fails (first error reported).
 */
typedef int (*cni_progress_fn)(void *arg, unsigned done, const char *result);
int cni_chain_add(const struct qb_config *cfg, const struct cni_conflist *cl,
    const struct cni_call *call, cni_progress_fn progress, void *arg,
    char **result, size_t *result_len, struct qb_error *err);
int cni_chain_del(const struct qb_config *cfg, const struct cni_conflist *cl,
    const struct cni_call *call, const char *prev_result, struct qb_error *err);

/* --- network namespaces (netns.c) --- */

/* /run/netns/qemubox-<id> into path. */
int netns_own_path(const char *id, char *path, size_t pathlen);
/* A new netns bind-mounted at path (which must not exist). */
int netns_create(const char *path, struct qb_error *err);
/* Unmount and unlink; a missing path is success. */
int netns_remove(const char *path);
/* path is a bind-mounted network namespace (nsfs, NS_GET_NSTYPE). */
int netns_check(const char *path);
/* Switch this thread into path's netns; *saved gets the old one. */
int netns_enter(const char *path, int *saved);
/* Back to saved (closes it). Failure is fatal: we'd act in the wrong ns. */
void netns_leave(int saved);
/*
 * How many processes (other than this one) are inside path's netns or hold
 * an fd to it, from /proc; processes we may not inspect are skipped.
 * -1 with errno when path is not a netns or /proc cannot be read.
 */
int netns_count_users(const char *path);

/* --- TAP + tc redirect, link inspection (tap.c) --- */

/*
 * In netns: read veth (MAC, MTU), create the TAP with that MTU, ingress
 * qdiscs + u32 match-all + mirred egress redirect veth<->TAP, both up.
 * Fills out->mac, mtu, tap_name, veth_name; *tap_fd is the TAP.
 * tap_fd NULL: the TAP exists already (tap_create; its fd is held by the
 * VM) and mac is the one its guest NIC uses: the veth gets that MAC first.
 */
int tap_setup(const char *netns, const char *veth, const char *tap,
    const uint8_t *mac, struct qb_net_result *out, int *tap_fd,
    struct qb_error *err);
/* In netns: create the TAP alone (no IPv6, down, not wired); *tap_fd. */
int tap_create(
    const char *netns, const char *tap, int *tap_fd, struct qb_error *err);
/* Remove the TAP and veth's ingress qdisc; missing things are success. */
int tap_teardown(const char *netns, const char *veth, const char *tap);
/*
 * 1 if link tap exists in netns, 0 if not (or netns is not a network
 * namespace at all, e.g. a file left before its bind mount), -1 when we could
 * not look.
 */
int tap_present(const char *netns, const char *tap);
/*
 * CRI mode: in netns find the veth (veth if not "", else eth0, else the
 * first non-loopback non-TAP link) and read its addresses and routes.
 */
int net_inspect(const char *netns, char *veth, size_t vethlen,
    struct qb_net_result *out, struct qb_error *err);

/* --- state (netdb.c): LMDB at <state_dir>/cni-config.db --- */

struct netdb;

struct netdb_rec {
	char id[QB_ID_MAX];
	uint32_t state; /* QB_NET_STATE_ADDING / READY */
	int own_netns;  /* 1: we created netns and ran CNI; 0: CRI */
	char netns[QB_NETNS_PATH_MAX];
	char network[QB_DNS_NAME_MAX];
	char
	    veth[QB_IFNAME_MAX]; /* the veth in netns (CRI: found, else eth0) */
	/* The shim daemon that asked (privnet's parent): pid + start time
	 * (/proc/<pid>/stat field 22), so qemubox-cleanup can tell a record
	 * whose shim is gone. 0 = unknown. */
	int64_t owner_pid;
	uint64_t owner_start;
	char owner_boot[40]; /* /proc/sys/kernel/random/boot_id, "" = unknown */
	uint64_t owner_pidns; /* inode of its pid namespace, 0 = unknown */
	/* The privnet that wrote it: a shim may die while its privnet still
	 * runs the plugins (it undoes the setup when it finds the shim gone).
	 */
	int64_t worker_pid;
	uint64_t worker_start;
	char *conflist; /* bytes of the conflist used (own netns mode) */
	char *result;   /* final CNI result JSON, NULL before ADD finished */
};

int netdb_open(const char *state_dir, struct netdb **db);
void netdb_close(struct netdb *db);
int netdb_put(struct netdb *db, const struct netdb_rec *rec);
/* -1/ENOENT when there is no record. */
int netdb_get(struct netdb *db, const char *id, struct netdb_rec *rec);
int netdb_del(struct netdb *db, const char *id);
/* Calls fn for each record (a copy: fn may put/del). */
int netdb_foreach(
    struct netdb *db, int (*fn)(const struct netdb_rec *, void *), void *arg);
void netdb_rec_free(struct netdb_rec *rec);
char *netdb_rec_encode(const struct netdb_rec *rec, size_t *len);
int netdb_rec_decode(const char *buf, size_t len, struct netdb_rec *rec);

/* --- the operations (privnet_net.c), used by privnet and qemubox-cleanup ---
 */

/* Stamp new records with this owner (privnet: its parent, the shim). Reads
 * the boot id and pid namespace too: call before confinement. */
void privnet_net_set_owner(int64_t pid);

/* --- who owns a sandbox's network (net_claim.c, pure) --- */

enum net_claim {
	NET_CLAIM_FREE,  /* no record, no netns: nothing to decide */
	NET_CLAIM_LIVE,  /* a running sandbox uses it: leave it alone */
	NET_CLAIM_STALE, /* left behind by a sandbox that is gone: reclaim */
};

struct net_facts {
	int has_record;
	int64_t owner_pid;    /* from the record; 0 = unknown */
	uint64_t owner_start; /* from the record; 0 = unknown */
	uint64_t
	    owner_start_now;     /* owner_proc_start(owner_pid) now; 0 = gone */
	int owner_boot_differs;  /* recorded in another boot */
	int owner_pidns_differs; /* recorded in another pid namespace */
	int worker_alive;        /* the privnet that wrote it still runs */
	int netns_exists;
	int tap_present; /* tap_present(): 1, 0, -1 could not look */
	int netns_users; /* netns_count_users(), -1 = not looked */
};

/* The verdict, and in why (may be NULL) a phrase saying why, for users. */
enum net_claim net_claim_decide(
    const struct net_facts *f, char *why, size_t whylen);

/*
 * Gather the facts for id (its record, else /run/netns/qemubox-<id>) and
 * decide. scan_procs: also count the processes using the netns (needs a
 * /proc view privnet's confinement does not give). *rec (may be NULL) gets
 * the record when there is one (free it with netdb_rec_free), else is
 * zeroed. -1 only when the state cannot be read.
 */
int privnet_net_claim(struct netdb *db, const char *id, int scan_procs,
    enum net_claim *claim, char *why, size_t whylen, struct netdb_rec *rec);
/*
 * Remove what a gone sandbox left: with a record, privnet_net_do_teardown();
 * without, CNI DEL of the current conflist (host-local releases by container
 * id, so the address comes back), then the TAP and netns. Validate first:
 * call only for a verdict of NET_CLAIM_STALE (or an administrator's order).
 */
int privnet_net_reclaim(const struct qb_config *cfg, struct netdb *db,
    const char *id, struct qb_error *err);

int privnet_net_do_setup(const struct qb_config *cfg, struct netdb *db,
    const char *id, const char *netns_path, const char *ifname,
    struct qb_net_result *out, int *tap_fd, struct qb_error *err);
/*
 * NET_SETUP of an own netns in two steps (IMSG_NET_TAP_REQ, then
 * IMSG_NET_WIRE_REQ), so the VM boots while the plugins run. do_tap: claim,
 * record, netns, the TAP and a random locally administered MAC for the
 * guest NIC; do_wire: the CNI chain, the veth takes that MAC, TAP and veth
 * joined. A failure of either undoes everything of the sandbox (CNI DEL,
 * netns, record). One sandbox between the two steps at a time.
 */
int privnet_net_do_tap(const struct qb_config *cfg, struct netdb *db,
    const char *id, struct qb_net_tap *out, int *tap_fd, struct qb_error *err);
int privnet_net_do_wire(const struct qb_config *cfg, struct netdb *db,
    const char *id, struct qb_net_result *out, struct qb_error *err);
/*
 * Teardown of id only if this privnet's shim still owns the record: after a
 * lost answer the record may already belong to a new sandbox of that id.
 */
int privnet_net_undo_own(
    const struct qb_config *cfg, struct netdb *db, const char *id);
/* Idempotent: nothing recorded and nothing left is success. */
int privnet_net_do_teardown(const struct qb_config *cfg, struct netdb *db,
    const char *id, struct qb_error *err);

/* --- process confinement --- */

/* privnet_priv.c: cut capabilities to the kept set, verify. */
int privnet_priv_drop(void);

#endif
