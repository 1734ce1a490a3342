#include "lib/owner.h"

#include <sys/stat.h>

#include <stdio.h>
#include <string.h>

enum owner_verdict
owner_decide(
    const struct owner_facts *f, const char *who, char *why, size_t whylen)
{
	char dummy[1];

	if (why == NULL || whylen == 0) {
		why = dummy;
		whylen = sizeof(dummy);
	}
	if (f->pid <= 0 || f->start == 0) {
		snprintf(why, whylen, "no owner recorded");
		return OWNER_UNKNOWN;
	}
	/* Start times count from boot: after a reboot a new process may have
	 * the same pid and start time, and none of the old ones runs. */
	if (f->boot_differs) {
		snprintf(why, whylen,
		    "%s (pid %lld) ran before the host rebooted", who,
		    (long long)f->pid);
		return OWNER_GONE;
	}
	/* Its pid means nothing in our pid namespace. */
	if (f->pidns_differs) {
		snprintf(why, whylen,
		    "%s (pid %lld) is in another pid namespace", who,
		    (long long)f->pid);
		return OWNER_UNKNOWN;
	}
	if (f->start_now == f->start) {
		snprintf(why, whylen, "%s (pid %lld) is running", who,
		    (long long)f->pid);
		return OWNER_LIVE;
	}
	if (f->start_now == 0)
		snprintf(why, whylen, "%s (pid %lld) is gone", who,
		    (long long)f->pid);
	else
		snprintf(why, whylen,
		    "%s (pid %lld) is gone; the pid now belongs to another "
		    "process",
		    who, (long long)f->pid);
	return OWNER_GONE;
}

void
owner_rec_stamp(struct owner_rec *rec, int64_t pid)
{
	memset(rec, 0, sizeof(*rec));
	rec->pid = pid;
	rec->start = owner_proc_start(pid);
	snprintf(rec->boot, sizeof(rec->boot), "%s", owner_boot_id());
	rec->pidns = owner_pidns();
}

void
owner_facts_read(const struct owner_rec *rec, struct owner_facts *f)
{
	memset(f, 0, sizeof(*f));
	f->pid = rec->pid;
	f->start = rec->start;
	f->boot_differs = rec->boot[0] != '\0' && owner_boot_id()[0] != '\0' &&
	                  strcmp(rec->boot, owner_boot_id()) != 0;
	f->pidns_differs = rec->pidns != 0 && owner_pidns() != 0 &&
	                   rec->pidns != owner_pidns();
	if (!f->boot_differs && !f->pidns_differs)
		f->start_now = owner_proc_start(rec->pid);
}

uint64_t
owner_proc_start(int64_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long long start = 0;
	FILE *f;
	size_t n;
	int i;

	if (pid <= 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/%lld/stat", (long long)pid);
	if ((f = fopen(path, "re")) == NULL)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* comm may hold spaces and parens: fields count from the last ')'. */
	if ((p = strrchr(buf, ')')) == NULL)
		return 0;
	for (i = 2; i < 22 && p != NULL; i++)
		p = strchr(p + 1, ' ');
	if (p == NULL || sscanf(p + 1, "%llu", &start) != 1)
		return 0;
	return start;
}

const char *
owner_boot_id(void)
{
	static char id[OWNER_BOOT_MAX];
	static int done;
	FILE *f;

	if (done)
		return id;
	done = 1;
	if ((f = fopen("/proc/sys/kernel/random/boot_id", "re")) == NULL)
		return id;
	if (fgets(id, sizeof(id), f) == NULL)
		id[0] = '\0';
	id[strcspn(id, "\n")] = '\0';
	fclose(f);
	return id;
}

uint64_t
owner_pidns(void)
{
	static uint64_t ino;
	struct stat st;

	if (ino == 0 && stat("/proc/self/ns/pid", &st) == 0)
		ino = (uint64_t)st.st_ino;
	return ino;
}
