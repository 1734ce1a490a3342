/*
 * NET_SETUP and NET_TEARDOWN, the two things privnet does, shared with
 * qemubox-cleanup. The record in netdb is written before anything is created
 * and updated after every step that allocates, so teardown (here, after a
 * restart, or from the cleanup tool) always knows what to undo.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "lib/log.h"
#include "privnet/privnet.h"

static int64_t owner_pid, worker_pid;
static uint64_t owner_start, worker_start;

void
privnet_net_set_owner(int64_t pid)
{
	owner_pid = pid;
	owner_start = owner_proc_start(pid);
	worker_pid = getpid();
	worker_start = owner_proc_start(worker_pid);
	owner_boot_id();
	owner_pidns();
}

struct progress_ctx {
	struct netdb *db;
	struct netdb_rec *rec;
};

static int
record_progress(void *arg, unsigned done, const char *result)
{
	struct progress_ctx *p = arg;
	char *old = p->rec->result;
	int rc;

	(void)done;
	p->rec->result = (char *)(uintptr_t)result;
	rc = netdb_put(p->db, p->rec);
	p->rec->result = old;
	return rc;
}

/*
 * Own netns, first half: the conflist, the record (before anything is
 * created), the netns. On failure nothing is left; *cl is the caller's to
 * free on success.
 */
static int
own_prepare(const struct qb_config *cfg, struct netdb *db,
    struct netdb_rec *rec, struct cni_conflist *cl, struct qb_error *err)
{
	char path[PATH_MAX];

	if (netns_own_path(rec->id, rec->netns, sizeof(rec->netns)) == -1)
		return qb_seterr(err, QB_E_INVALID, "sandbox id too long");
	if (cni_conflist_find(
	        cfg->network.cni_conf_dir, path, sizeof(path), err) == -1 ||
	    cni_conflist_load(path, cl, err) == -1)
		return -1;
	snprintf(rec->network, sizeof(rec->network), "%s", cl->name);
	if ((rec->conflist = strdup(cl->bytes)) == NULL) {
		qb_seterr(err, QB_E_INTERNAL, "out of memory");
		goto fail_cl;
	}
	if (netdb_put(db, rec) == -1) {
		qb_seterr(err, QB_E_INTERNAL, "record network of %s: %s",
		    rec->id, strerror(errno));
		goto fail_cl;
	}
	if (netns_create(rec->netns, err) == -1)
		goto fail_rec;
	return 0;
fail_rec:
	netdb_del(db, rec->id);
fail_cl:
	cni_conflist_free(cl);
	return -1;
}

/*
 * Own netns, second half: CNI ADD (the result recorded after every
 * plugin), then the TAP joined to the veth (tap_setup: mac and tap_fd as
 * there). On failure CNI DEL ran; the netns and record are the caller's.
 */
static int
own_add(const struct qb_config *cfg, struct netdb *db, struct netdb_rec *rec,
    const struct cni_conflist *cl, const uint8_t *mac,
    struct qb_net_result *out, int *tap_fd, struct qb_error *err)
{
	struct cni_result res;
	struct cni_call call = {"ADD", rec->id, rec->netns, rec->veth};
	struct progress_ctx pc = {db, rec};
	struct qb_error derr;
	char *result = NULL;
	size_t rlen;

	if (cni_chain_add(cfg, cl, &call, record_progress, &pc, &result, &rlen,
	        err) == -1)
		return -1;
	/* The chain's result is its last plugin's, which record_progress
	 * has committed already: no second commit (an fdatasync) of it. */
	free(rec->result);
	rec->result = result;
	if (cni_result_parse(result, rlen, &res, err) == -1) {
		qb_preferr(err, "CNI network %s", cl->name);
		goto fail_del;
	}
	cni_result_to_net(&res, rec->veth, out);
	if (tap_setup(rec->netns, rec->veth, PRIVNET_TAPNAME, mac, out, tap_fd,
	        err) == -1)
		goto fail_del;
	return 0;
fail_del:
	call.command = "DEL";
	cni_chain_del(cfg, cl, &call, result, &derr);
	return -1;
}

static int
setup_own(const struct qb_config *cfg, struct netdb *db, struct netdb_rec *rec,
    struct qb_net_result *out, int *tap_fd, struct qb_error *err)
{
	struct cni_conflist cl;
	int rc;

	if (own_prepare(cfg, db, rec, &cl, err) == -1)
		return -1;
	if ((rc = own_add(cfg, db, rec, &cl, NULL, out, tap_fd, err)) == -1) {
		netns_remove(rec->netns);
		netdb_del(db, rec->id);
	}
	cni_conflist_free(&cl);
	return rc;
}

static int
setup_cri(struct netdb *db, struct netdb_rec *rec, struct qb_net_result *out,
    int *tap_fd, struct qb_error *err)
{
	if (netns_check(rec->netns) == -1)
		return qb_seterr(err, QB_E_INVALID,
		    "netns %s: not a network namespace: %s", rec->netns,
		    strerror(errno));
	if (netdb_put(db, rec) == -1)
		return qb_seterr(err, QB_E_INTERNAL, "record network of %s: %s",
		    rec->id, strerror(errno));
	if (net_inspect(rec->netns, rec->veth, sizeof(rec->veth), out, err) ==
	    -1)
		goto fail;
	if (!privnet_valid_ifname(rec->veth)) {
		qb_seterr(err, QB_E_INVALID, "netns %s: odd interface name",
		    rec->netns);
		goto fail;
	}
	if (netdb_put(db, rec) == -1) {
		qb_seterr(err, QB_E_INTERNAL, "record network of %s: %s",
		    rec->id, strerror(errno));
		goto fail;
	}
	if (tap_setup(rec->netns, rec->veth, PRIVNET_TAPNAME, NULL, out, tap_fd,
	        err) == -1)
		goto fail;
	return 0;
fail:
	netdb_del(db, rec->id);
	return -1;
}

int
privnet_net_claim(struct netdb *db, const char *id, int scan_procs,
    enum net_claim *claim, char *why, size_t whylen, struct netdb_rec *rec)
{
	struct net_facts f;
	struct netdb_rec r;
	char path[QB_NETNS_PATH_MAX];

	memset(&f, 0, sizeof(f));
	f.netns_users = -1;
	if (netdb_get(db, id, &r) == 0) {
		struct owner_rec orec = {.pid = r.owner_pid,
		    .start = r.owner_start,
		    .pidns = r.owner_pidns};
		struct owner_facts of;

		snprintf(orec.boot, sizeof(orec.boot), "%s", r.owner_boot);
		owner_facts_read(&orec, &of);
		f.has_record = 1;
		f.owner_pid = of.pid;
		f.owner_start = of.start;
		f.owner_start_now = of.start_now;
		f.owner_boot_differs = of.boot_differs;
		f.owner_pidns_differs = of.pidns_differs;
		f.worker_alive =
		    !f.owner_boot_differs && !f.owner_pidns_differs &&
		    r.worker_pid > 0 && r.worker_start != 0 &&
		    owner_proc_start(r.worker_pid) == r.worker_start;
		snprintf(path, sizeof(path), "%s", r.netns);
	} else if (errno != ENOENT)
		return -1;
	else if (netns_own_path(id, path, sizeof(path)) == -1)
		return -1;
	/* A CRI netns is containerd's: it always exists and is not ours to
	 * judge; only our own qemubox-<id> counts. */
	if (!f.has_record || r.own_netns)
		f.netns_exists = access(path, F_OK) == 0;
	if (f.netns_exists || f.has_record) {
		f.tap_present = tap_present(path, PRIVNET_TAPNAME);
		if (scan_procs && f.netns_exists)
			f.netns_users = netns_count_users(path);
	}
	*claim = net_claim_decide(&f, why, whylen);
	if (rec != NULL) {
		if (f.has_record)
			*rec = r;
		else
			memset(rec, 0, sizeof(*rec));
	} else if (f.has_record)
		netdb_rec_free(&r);
	return 0;
}

int
privnet_net_reclaim(const struct qb_config *cfg, struct netdb *db,
    const char *id, struct qb_error *err)
{
	struct netdb_rec rec;
	struct cni_conflist cl;
	struct cni_call call = {"DEL", id, NULL, PRIVNET_IFNAME};
	struct qb_error e;
	char netns[QB_NETNS_PATH_MAX], path[PATH_MAX];

	if (netdb_get(db, id, &rec) == 0) {
		/* The record says what was made, netns included. */
		netdb_rec_free(&rec);
		return privnet_net_do_teardown(cfg, db, id, err);
	} else if (errno != ENOENT)
		return qb_seterr(err, QB_E_INTERNAL, "read network state: %s",
		    strerror(errno));
	if (netns_own_path(id, netns, sizeof(netns)) == -1)
		return qb_seterr(err, QB_E_INVALID, "sandbox id too long");
	if (access(netns, F_OK) == -1)
		return 0;
	/*
	 * No record says which network this was. The current conflist is the
	 * best guess: host-local releases by container id and ifname, bridge
	 * deletes the veth and its masquerade rules by what it finds, and a
	 * plugin of another network has nothing to release under this id.
	 */
	call.netns = netns;
	if (cni_conflist_find(
	        cfg->network.cni_conf_dir, path, sizeof(path), &e) == 0 &&
	    cni_conflist_load(path, &cl, &e) == 0) {
		if (cni_chain_del(cfg, &cl, &call, NULL, &e) == -1)
			log_warnx("%s: %s: CNI DEL (%s, no record): %s",
			    __func__, id, cl.name, e.msg);
		cni_conflist_free(&cl);
	} else
		log_warnx("%s: %s: no CNI DEL: %s", __func__, id, e.msg);
	tap_teardown(netns, PRIVNET_IFNAME, PRIVNET_TAPNAME);
	if (netns_remove(netns) == -1)
		return qb_seterr(err, QB_E_INTERNAL, "remove netns %s: %s",
		    netns, strerror(errno));
	log_info("%s: %s: removed netns %s (no record)", __func__, id, netns);
	return 0;
}

/*
 * A record or a qemubox-<id> netns already there: a second sandbox with the
 * same id while the first runs is refused; what a dead one left (SIGKILLed
 * shim, containerd restarted mid-Create, a wiped state dir) is reclaimed.
 */
static int
claim_id(const struct qb_config *cfg, struct netdb *db, const char *id,
    struct qb_error *err)
{
	enum net_claim claim;
	char why[160];

	if (privnet_net_claim(db, id, 0, &claim, why, sizeof(why), NULL) == -1)
		return qb_seterr(err, QB_E_INTERNAL,
		    "read network state of %s: %s", id, strerror(errno));
	switch (claim) {
	case NET_CLAIM_FREE:
		return 0;
	case NET_CLAIM_LIVE:
		return qb_seterr(err, QB_E_EXISTS,
		    "sandbox %s: its network is in use by a running sandbox "
		    "(%s)",
		    id, why);
	case NET_CLAIM_STALE:
		break;
	}
	log_info("%s: %s: reclaiming a stale network (%s)", __func__, id, why);
	if (privnet_net_reclaim(cfg, db, id, err) == -1)
		return qb_preferr(err, "sandbox %s: reclaim stale network", id);
	return 0;
}

/* A new record for id: ADDING, owned by our shim, written by us. */
static void
rec_init(struct netdb_rec *rec, const char *id, const char *ifname)
{
	memset(rec, 0, sizeof(*rec));
	snprintf(rec->id, sizeof(rec->id), "%s", id);
	rec->state = QB_NET_STATE_ADDING;
	rec->owner_pid = owner_pid;
	rec->owner_start = owner_start;
	snprintf(
	    rec->owner_boot, sizeof(rec->owner_boot), "%s", owner_boot_id());
	rec->owner_pidns = owner_pidns();
	rec->worker_pid = worker_pid;
	rec->worker_start = worker_start;
	snprintf(rec->veth, sizeof(rec->veth), "%s",
	    ifname[0] != '\0' ? ifname : PRIVNET_IFNAME);
}

/* The setup is complete: READY in the record, or everything undone. */
static int
setup_done(const struct qb_config *cfg, struct netdb *db, struct netdb_rec *rec,
    struct qb_net_result *out, struct qb_error *err)
{
	rec->state = QB_NET_STATE_READY;
	if (netdb_put(db, rec) == -1) {
		qb_seterr(err, QB_E_INTERNAL, "record network of %s: %s",
		    rec->id, strerror(errno));
		privnet_net_do_teardown(cfg, db, rec->id, NULL);
		return -1;
	}
	snprintf(out->netns_path, sizeof(out->netns_path), "%s", rec->netns);
	log_info("%s: %s: %s mode, netns %s, tap %s", __func__, rec->id,
	    rec->own_netns ? "own netns" : "CRI", rec->netns, out->tap_name);
	return 0;
}

int
privnet_net_do_setup(const struct qb_config *cfg, struct netdb *db,
    const char *id, const char *netns_path, const char *ifname,
    struct qb_net_result *out, int *tap_fd, struct qb_error *err)
{
	struct netdb_rec rec;
	int rc;

	*tap_fd = -1;
	memset(out, 0, sizeof(*out));
	if (claim_id(cfg, db, id, err) == -1)
		return -1;
	rec_init(&rec, id, netns_path[0] == '\0' ? ifname : "");
	if (netns_path[0] == '\0') {
		rec.own_netns = 1;
		rc = setup_own(cfg, db, &rec, out, tap_fd, err);
	} else {
		snprintf(rec.veth, sizeof(rec.veth), "%s", ifname);
		snprintf(rec.netns, sizeof(rec.netns), "%s", netns_path);
		rc = setup_cri(db, &rec, out, tap_fd, err);
	}
	if (rc == 0 && (rc = setup_done(cfg, db, &rec, out, err)) == -1) {
		close(*tap_fd);
		*tap_fd = -1;
	}
	netdb_rec_free(&rec);
	return rc;
}

/* Between do_tap and do_wire: whose TAP, and the MAC its guest NIC got. */
static struct {
	char id[QB_ID_MAX];
	uint8_t mac[6];
} tap_first;

int
privnet_net_do_tap(const struct qb_config *cfg, struct netdb *db,
    const char *id, struct qb_net_tap *out, int *tap_fd, struct qb_error *err)
{
	struct netdb_rec rec;
	struct cni_conflist cl;
	uint8_t mac[6];

	*tap_fd = -1;
	memset(out, 0, sizeof(*out));
	if (tap_first.id[0] != '\0')
		return qb_seterr(err, QB_E_PRECONDITION,
		    "sandbox %s: its TAP waits for NET_WIRE", tap_first.id);
	if (getrandom(mac, sizeof(mac), 0) != (ssize_t)sizeof(mac))
		return qb_seterr(
		    err, QB_E_INTERNAL, "getrandom: %s", strerror(errno));
	/* Unicast, locally administered, as the kernel's random MACs. */
	mac[0] = (uint8_t)((mac[0] & 0xfe) | 0x02);
	if (claim_id(cfg, db, id, err) == -1)
		return -1;
	rec_init(&rec, id, "");
	rec.own_netns = 1;
	if (own_prepare(cfg, db, &rec, &cl, err) == -1) {
		netdb_rec_free(&rec);
		return -1;
	}
	cni_conflist_free(&cl);
	if (tap_create(rec.netns, PRIVNET_TAPNAME, tap_fd, err) == -1) {
		netns_remove(rec.netns);
		netdb_del(db, id);
		netdb_rec_free(&rec);
		return -1;
	}
	snprintf(out->tap_name, sizeof(out->tap_name), "%s", PRIVNET_TAPNAME);
	snprintf(out->netns_path, sizeof(out->netns_path), "%s", rec.netns);
	memcpy(out->mac, mac, sizeof(mac));
	snprintf(tap_first.id, sizeof(tap_first.id), "%s", id);
	memcpy(tap_first.mac, mac, sizeof(mac));
	netdb_rec_free(&rec);
	return 0;
}

int
privnet_net_do_wire(const struct qb_config *cfg, struct netdb *db,
    const char *id, struct qb_net_result *out, struct qb_error *err)
{
	struct netdb_rec rec;
	struct cni_conflist cl;
	uint8_t mac[6];
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (tap_first.id[0] == '\0' || strcmp(tap_first.id, id) != 0)
		return qb_seterr(err, QB_E_PRECONDITION,
		    "sandbox %s: no TAP of NET_TAP waits for its network", id);
	memcpy(mac, tap_first.mac, sizeof(mac));
	memset(&tap_first, 0, sizeof(tap_first));
	if (netdb_get(db, id, &rec) == -1) {
		qb_seterr(err, QB_E_INTERNAL, "read network state of %s: %s",
		    id, strerror(errno));
		privnet_net_do_teardown(cfg, db, id, NULL);
		return -1;
	}
	if (rec.conflist == NULL || cni_conflist_parse(rec.conflist,
	                                strlen(rec.conflist), &cl, err) == -1) {
		qb_seterr(err, QB_E_INTERNAL,
		    "sandbox %s: no usable conflist "
		    "recorded",
		    id);
		goto out;
	}
	if (own_add(cfg, db, &rec, &cl, mac, out, NULL, err) == 0)
		rc = setup_done(cfg, db, &rec, out, err);
	else {
		/* CNI DEL ran; the TAP goes with the netns (and the VM). */
		netns_remove(rec.netns);
		netdb_del(db, id);
	}
	cni_conflist_free(&cl);
	netdb_rec_free(&rec);
	return rc;
out:
	netdb_rec_free(&rec);
	privnet_net_do_teardown(cfg, db, id, NULL);
	return -1;
}

int
privnet_net_undo_own(
    const struct qb_config *cfg, struct netdb *db, const char *id)
{
	struct netdb_rec rec;
	int mine;

	if (netdb_get(db, id, &rec) == -1)
		return errno == ENOENT ? 0 : -1;
	mine = rec.owner_pid == owner_pid && rec.owner_start == owner_start;
	netdb_rec_free(&rec);
	if (!mine) {
		log_warnx("%s: %s: the record belongs to another sandbox now, "
		          "leaving it",
		    __func__, id);
		return 0;
	}
	return privnet_net_do_teardown(cfg, db, id, NULL);
}

int
privnet_net_do_teardown(const struct qb_config *cfg, struct netdb *db,
    const char *id, struct qb_error *err)
{
	struct netdb_rec rec;
	struct cni_conflist cl;
	struct cni_call call = {"DEL", id, NULL, NULL};
	struct qb_error e;
	int rc = 0;

	if (strcmp(tap_first.id, id) == 0)
		memset(&tap_first, 0, sizeof(tap_first));
	if (netdb_get(db, id, &rec) == -1) {
		if (errno == ENOENT)
			return 0;
		return qb_seterr(err, QB_E_INTERNAL, "read network state: %s",
		    strerror(errno));
	}
	call.netns = rec.netns;
	call.ifname = rec.veth[0] ? rec.veth : PRIVNET_IFNAME;
	if (rec.veth[0] != '\0')
		tap_teardown(rec.netns, rec.veth, PRIVNET_TAPNAME);
	if (rec.own_netns) {
		if (rec.conflist == NULL ||
		    cni_conflist_parse(
		        rec.conflist, strlen(rec.conflist), &cl, &e) == -1) {
			log_warnx("%s: %s: no usable conflist recorded",
			    __func__, id);
		} else {
			/* DEL errors are logged; what a plugin could not undo
			 * goes with the netns. */
			cni_chain_del(cfg, &cl, &call, rec.result, &e);
			cni_conflist_free(&cl);
		}
		if (netns_remove(rec.netns) == -1) {
			rc = qb_seterr(err, QB_E_INTERNAL,
			    "remove netns %s: %s", rec.netns, strerror(errno));
			goto out;
		}
	}
	if (netdb_del(db, id) == -1)
		rc = qb_seterr(err, QB_E_INTERNAL, "drop network record: %s",
		    strerror(errno));
	else
		log_info("%s: %s: network removed", __func__, id);
out:
	netdb_rec_free(&rec);
	return rc;
}
