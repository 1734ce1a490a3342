/*
 * qemubox-cleanup: remove what a crashed or killed qemubox left behind on
 * the host network. It reads privnet's records (<state_dir>/cni-config.db),
 * so it runs CNI DEL with the exact conflist and prevResult of the setup:
 *
 *   qemubox-cleanup --status      list records, netns, and who owns them
 *   qemubox-cleanup [-n]          clean up every sandbox whose shim is gone
 *   qemubox-cleanup [-n] --all    clean up every sandbox, live or not
 *   qemubox-cleanup [-n] ID       clean up that sandbox
 *
 * "Cleaning up" a sandbox = CNI DEL of its chain in reverse order (releases
 * the IPAM allocation, iptables rules), remove its TAP, its netns
 * /run/netns/qemubox-<id>, its record, and its state/log directories
 * <state_dir>/sandboxes/<id> and <log_dir>/<id> when they exist; and give
 * back its uid and remove its host cgroup (<state_dir>/uids/, see
 * uid_clean()). The template holder's uid record ("qemubox-tmpl") is one
 * of these: named or with --all, a live holder is stopped first. A
 * /run/netns/qemubox-* with no record is removed too when nothing uses it: no
 * TAP (it exists only while a VM holds its fd) and no process inside it or
 * holding it open; one in use is removed only when named (ID) or with --all.
 * Who is "gone" is decided by net_claim_decide(), the rule privnet applies
 * before reusing an id. -n only prints.
 * Runs as root with the administrator's privileges (no privnet confinement):
 * it is a repair tool run by hand.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <ftw.h>
#include <getopt.h>
#include <sys/stat.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/config.h"
#include "lib/log.h"
#include "lib/sandbox_uid.h"
#include "privnet/privnet.h"

static struct qb_config cfg;
static struct netdb *db;
static int dry_run, all, failures, actions;
static const char *only_id;

static const char *
state_name(uint32_t s)
{
	return s == QB_NET_STATE_READY    ? "ready"
	       : s == QB_NET_STATE_ADDING ? "adding (unfinished)"
	                                  : "?";
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return (flag == FTW_DP ? rmdir(path) : unlink(path)) == -1 &&
	               errno != ENOENT
	           ? -1
	           : 0;
}

static void
remove_dir(const char *parent, const char *sub, const char *id)
{
	char path[PATH_MAX];
	struct stat st;

	if ((size_t)snprintf(path, sizeof(path), "%s%s/%s", parent, sub, id) >=
	    sizeof(path))
		return;
	if (lstat(path, &st) == -1 || !S_ISDIR(st.st_mode))
		return;
	actions++;
	if (dry_run) {
		printf("would remove directory %s\n", path);
		return;
	}
	if (nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS) == -1) {
		fprintf(stderr, "qemubox-cleanup: remove %s: %s\n", path,
		    strerror(errno));
		failures++;
	} else
		printf("removed directory %s\n", path);
}

static void
clean_sandbox(const struct netdb_rec *rec)
{
	struct qb_error err = {0};

	actions++;
	if (dry_run) {
		printf(
		    "would clean up %s: CNI DEL (network %s), remove TAP%s%s, "
		    "drop record\n",
		    rec->id, rec->own_netns ? rec->network : "none, CRI",
		    rec->own_netns ? " and netns " : "",
		    rec->own_netns ? rec->netns : "");
	} else if (privnet_net_do_teardown(&cfg, db, rec->id, &err) == -1) {
		fprintf(stderr, "qemubox-cleanup: %s: %s\n", rec->id, err.msg);
		failures++;
		return;
	} else
		printf("cleaned up %s (netns %s)\n", rec->id, rec->netns);
	remove_dir(cfg.paths.state_dir, "/sandboxes", rec->id);
	remove_dir(cfg.paths.log_dir, "", rec->id);
}

static int
status_one(const struct netdb_rec *rec, void *arg)
{
	struct cni_result res;
	struct qb_error err;
	enum net_claim claim = NET_CLAIM_LIVE;
	char ip[64] = "-", why[160];

	(void)arg;
	if (rec->result != NULL &&
	    cni_result_parse(rec->result, strlen(rec->result), &res, &err) ==
	        0 &&
	    res.n_ips > 0) {
		struct qb_net_result net;

		memset(&net, 0, sizeof(net));
		cni_result_to_net(
		    &res, rec->veth[0] ? rec->veth : "eth0", &net);
		if (net.n_ips > 0 &&
		    inet_ntop(net.ips[0].family, net.ips[0].addr, ip,
		        sizeof(ip)) != NULL)
			snprintf(ip + strlen(ip), sizeof(ip) - strlen(ip),
			    "/%u", net.ips[0].prefixlen);
	}
	if (privnet_net_claim(db, rec->id, 1, &claim, why, sizeof(why), NULL) ==
	    -1)
		snprintf(
		    why, sizeof(why), "state unreadable: %s", strerror(errno));
	printf("%-24s %-20s %-4s %-18s %-12s %s (shim pid %lld %s: %s)\n",
	    rec->id, state_name(rec->state), rec->own_netns ? "own" : "cri", ip,
	    rec->network[0] ? rec->network : "-", rec->netns,
	    (long long)rec->owner_pid,
	    claim == NET_CLAIM_LIVE ? "running" : "gone", why);
	return 0;
}

static int
clean_one(const struct netdb_rec *rec, void *arg)
{
	enum net_claim claim;
	char why[160];

	(void)arg;
	if (only_id != NULL) {
		if (strcmp(rec->id, only_id) == 0)
			clean_sandbox(rec);
		return 0;
	}
	if (all) {
		clean_sandbox(rec);
		return 0;
	}
	if (privnet_net_claim(db, rec->id, 1, &claim, why, sizeof(why), NULL) ==
	    -1) {
		fprintf(stderr, "qemubox-cleanup: %s: read state: %s\n",
		    rec->id, strerror(errno));
		failures++;
		return 0;
	}
	if (claim == NET_CLAIM_STALE)
		clean_sandbox(rec);
	else
		printf("kept %s: %s\n", rec->id, why);
	return 0;
}

/*
 * /run/netns/qemubox-* that no record explains: the state dir was wiped, or
 * a crash came between the netns and the record. Removed when nothing uses
 * it (no TAP held by a VM, no process inside or holding it), when named, or
 * with --all; CNI DEL with the current conflist first, so host-local gives
 * the address back.
 */
static void
orphan_netns(int act)
{
	char path[PATH_MAX], why[160];
	struct netdb_rec rec;
	struct qb_error err;
	struct dirent *de;
	enum net_claim claim;
	const char *id;
	DIR *d;

	if ((d = opendir(PRIVNET_NETNS_DIR)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, PRIVNET_NETNS_PREFIX,
		        strlen(PRIVNET_NETNS_PREFIX)) != 0)
			continue;
		id = de->d_name + strlen(PRIVNET_NETNS_PREFIX);
		snprintf(
		    path, sizeof(path), "%s/%s", PRIVNET_NETNS_DIR, de->d_name);
		if (!privnet_valid_id(id)) {
			printf("ignored %s: not a qemubox sandbox id\n", path);
			continue;
		}
		if (only_id != NULL && strcmp(id, only_id) != 0)
			continue;
		if (netdb_get(db, id, &rec) == 0) {
			netdb_rec_free(&rec);
			continue;
		}
		if (privnet_net_claim(
		        db, id, 1, &claim, why, sizeof(why), NULL) == -1) {
			fprintf(stderr, "qemubox-cleanup: %s: %s\n", path,
			    strerror(errno));
			failures++;
			continue;
		}
		if (claim == NET_CLAIM_FREE)
			continue; /* gone meanwhile */
		if (!act) {
			printf("%-24s %-20s %-4s %-18s %-12s %s (%s: %s)\n", id,
			    "orphan netns", "own", "-", "-", path,
			    claim == NET_CLAIM_LIVE ? "in use" : "stale", why);
			continue;
		}
		if (claim == NET_CLAIM_LIVE && !all && only_id == NULL) {
			printf("kept %s: %s; name it or use --all to remove\n",
			    path, why);
			continue;
		}
		actions++;
		if (dry_run) {
			printf("would remove netns %s (%s)\n", path, why);
			continue;
		}
		qb_clearerr(&err);
		if (privnet_net_reclaim(&cfg, db, id, &err) == -1) {
			fprintf(
			    stderr, "qemubox-cleanup: %s: %s\n", path, err.msg);
			failures++;
		} else
			printf("removed netns %s (%s)\n", path, why);
	}
	closedir(d);
}

/*
 * The sandbox uids (<state_dir>/uids/<uid>, lib/sandbox_uid.c) and the host
 * cgroups recorded with them. A uid is given back when its shim is gone and
 * no process runs as it any more (the rule the shim applies before handing
 * a uid out again); named (ID) or with --all, also when the shim runs, but
 * never while a process of that uid lives: kill the sandbox first.
 */
static int
uid_status(const struct sandbox_uid_rec *rec, void *arg)
{
	char why[240];
	enum sandbox_uid_claim c = sandbox_uid_claim(rec, why, sizeof(why));

	(void)arg;
	printf("%-24s uid %-10u %-5s cgroup %s (%s)\n", rec->sandbox, rec->uid,
	    c == SANDBOX_UID_LIVE ? "live" : "stale",
	    rec->ncgroups > 0 ? rec->cgroups[0] : "-", why);
	return 0;
}

/*
 * The template holder (tmpl/) owns the uid record it runs under: a live one
 * (named, or --all) is asked to stop (SIGTERM to the record's owner, whose
 * identity the LIVE verdict checked); its vmmons and QEMU follow it. Waits
 * up to 5 s for the uid's last process.
 */
#define TMPL_RECORD "qemubox-tmpl"
static void
tmpl_stop(const struct sandbox_uid_rec *rec)
{
	int i;

	printf("stopping qemubox-tmpl (pid %lld)\n", (long long)rec->owner.pid);
	if (kill((pid_t)rec->owner.pid, SIGTERM) == -1)
		return;
	for (i = 0; i < 50 && sandbox_uid_nprocs(rec->uid) != 0; i++)
		usleep(100000);
}

static int
uid_clean(const struct sandbox_uid_rec *rec, void *arg)
{
	char why[240];
	enum sandbox_uid_claim c = sandbox_uid_claim(rec, why, sizeof(why));

	(void)arg;
	if (only_id != NULL && strcmp(rec->sandbox, only_id) != 0)
		return 0;
	if (c == SANDBOX_UID_LIVE && only_id == NULL && !all) {
		printf("kept uid %u of %s: %s\n", rec->uid, rec->sandbox, why);
		return 0;
	}
	actions++;
	if (dry_run) {
		printf("would free uid %u of %s and remove its cgroup (%s)\n",
		    rec->uid, rec->sandbox, why);
		return 0;
	}
	if (c == SANDBOX_UID_LIVE && strcmp(rec->sandbox, TMPL_RECORD) == 0)
		tmpl_stop(rec);
	if (sandbox_uid_reclaim(cfg.paths.state_dir, rec->uid) == -1) {
		fprintf(stderr, "qemubox-cleanup: uid %u of %s: %s%s\n",
		    rec->uid, rec->sandbox, strerror(errno),
		    errno == EBUSY ? " (a process still runs as it)" : "");
		failures++;
		return 0;
	}
	printf("freed uid %u of %s, removed its cgroup (%s)\n", rec->uid,
	    rec->sandbox, why);
	return 0;
}

/* --help: stdout, exit 0; a usage error: stderr, exit 2. */
static __attribute__((noreturn)) void
usage(int rc)
{
	fprintf(rc == 0 ? stdout : stderr,
	    "usage: qemubox-cleanup --status\n"
	    "       qemubox-cleanup [-n|--dry-run] [--all | ID]\n"
	    "  (config: $QEMUBOX_CONFIG or " QB_CONFIG_DEFAULT_PATH ")\n");
	exit(rc);
}

int
main(int argc, char *argv[])
{
	static const struct option opts[] = {{"status", no_argument, NULL, 's'},
	    {"all", no_argument, NULL, 'a'},
	    {"dry-run", no_argument, NULL, 'n'},
	    {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
	struct qb_error err = {0};
	int ch, status = 0;

	log_init("qemubox-cleanup", 0);
	while ((ch = getopt_long(argc, argv, "nash", opts, NULL)) != -1) {
		switch (ch) {
		case 's':
			status = 1;
			break;
		case 'a':
			all = 1;
			break;
		case 'n':
			dry_run = 1;
			break;
		case 'h':
			usage(0);
		default:
			usage(2);
		}
	}
	if (optind < argc)
		only_id = argv[optind++];
	if (optind != argc || (only_id && all) || (status && (only_id || all)))
		usage(2);
	if (only_id != NULL && !privnet_valid_id(only_id)) {
		fprintf(stderr, "qemubox-cleanup: invalid sandbox id \"%s\"\n",
		    only_id);
		return 2;
	}
	if (qb_config_load(qb_config_path(), &cfg, &err) == -1) {
		fprintf(stderr, "qemubox-cleanup: %s\n", err.msg);
		return 1;
	}
	if (netdb_open(cfg.paths.state_dir, &db) == -1) {
		fprintf(stderr, "qemubox-cleanup: open %s/cni-config.db: %s\n",
		    cfg.paths.state_dir, strerror(errno));
		return 1;
	}
	if (status) {
		printf("%-24s %-20s %-4s %-18s %-12s %s\n", "SANDBOX", "STATE",
		    "MODE", "IP", "NETWORK", "NETNS");
		netdb_foreach(db, status_one, NULL);
		orphan_netns(0);
		sandbox_uid_foreach(cfg.paths.state_dir, uid_status, NULL);
	} else {
		netdb_foreach(db, clean_one, NULL);
		orphan_netns(1);
		if (sandbox_uid_foreach(cfg.paths.state_dir, uid_clean, NULL) ==
		    -1)
			failures++;
		if (only_id != NULL) {
			/* Directories of an id with no record left. */
			remove_dir(cfg.paths.state_dir, "/sandboxes", only_id);
			remove_dir(cfg.paths.log_dir, "", only_id);
		}
		if (actions == 0)
			printf("nothing to clean up\n");
	}
	netdb_close(db);
	return failures ? 1 : 0;
}
