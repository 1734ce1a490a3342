/*
 * Who owns a host resource that outlives a crash (a sandbox's network
 * record, a sandbox uid): the one liveness rule privnet, the shim and
 * qemubox-cleanup apply before reusing or removing it.
 *
 * A pid alone proves nothing: pids are reused. A record therefore holds the
 * owner's pid and start time (/proc/<pid>/stat field 22); the owner lives
 * only if a process with that pid exists now with the same start time. Both
 * mean something only within one boot and one pid namespace, so the record
 * keeps the boot id and the pid namespace's inode too. When the owner
 * cannot be judged (no owner recorded, another pid namespace) the verdict
 * is OWNER_UNKNOWN and the caller looks at the resource itself (a TAP held
 * by a VM, a process running as the uid).
 */
#ifndef QEMUBOX_OWNER_H
#define QEMUBOX_OWNER_H

#include <stddef.h>
#include <stdint.h>

#define OWNER_BOOT_MAX 40

/* What a record stores about its owner. 0 / "" = unknown. */
struct owner_rec {
	int64_t pid;
	uint64_t start;
	char boot[OWNER_BOOT_MAX];
	uint64_t pidns;
};

/* The facts the rule reads: the record, compared with now. */
struct owner_facts {
	int64_t pid;        /* from the record; 0 = unknown */
	uint64_t start;     /* from the record; 0 = unknown */
	uint64_t start_now; /* owner_proc_start(pid) now; 0 = gone */
	int boot_differs;   /* recorded in another boot */
	int pidns_differs;  /* recorded in another pid namespace */
};

enum owner_verdict {
	OWNER_UNKNOWN, /* cannot tell from the record: look at the resource */
	OWNER_LIVE,    /* the owner runs */
	OWNER_GONE,    /* the owner is gone (or ran before a reboot) */
};

/*
 * The rule (pure). who names the owner in the phrase written to why (may be
 * NULL), e.g. "its shim": "its shim (pid 42) is gone".
 */
enum owner_verdict owner_decide(
    const struct owner_facts *f, const char *who, char *why, size_t whylen);

/* Stamp rec with process pid of this boot and our pid namespace. */
void owner_rec_stamp(struct owner_rec *rec, int64_t pid);
/* Compare rec with the running system. */
void owner_facts_read(const struct owner_rec *rec, struct owner_facts *f);

/* The start time of pid (clock ticks since boot), 0 if it does not exist. */
uint64_t owner_proc_start(int64_t pid);
/* This boot's id (36 chars) and our pid namespace's inode; "" / 0 if they
 * cannot be read. Read once, then cached: call before confinement. */
const char *owner_boot_id(void);
uint64_t owner_pidns(void);

#endif
