/*
 * OOM events (guest/agent_int.h): an inotify watch on each container's
 * memory.events; when its oom_kill counter grows the host gets an OomEvent.
 */
#include <limits.h>
#include <stdio.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "guest/agent_int.h"
#include "lib/log.h"

static uint64_t
read_oom_kills(const char *path)
{
	char line[128];
	unsigned long long v = 0;
	FILE *f;

	if ((f = fopen(path, "re")) == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "oom_kill %llu", &v) == 1)
			break;
	fclose(f);
	return v;
}

static void
send_oom(struct agent *a, struct ctr *c)
{
	Qemubox__Guest__V1__Event ev;
	Qemubox__Guest__V1__OomEvent oom;

	qemubox__guest__v1__event__init(&ev);
	qemubox__guest__v1__oom_event__init(&oom);
	oom.id = c->id;
	ev.kind_case = QEMUBOX__GUEST__V1__EVENT__KIND_OOM;
	ev.oom = &oom;
	if (agent_send_event(a, &ev) == -1)
		log_warn("%s: %s", __func__, c->id);
}

/* The kernel's oom_kill counter of the container's cgroup grew: tell the host.
 */
void
oom_watch(struct agent *a, struct ctr *c)
{
	char cg[PATH_MAX];

	c->oom_wd = -1;
	if (a->ino_fd < 0 || ctr_cgroup(c, cg, sizeof(cg)) == -1)
		return;
	if (snprintf(c->oom_path, sizeof(c->oom_path), "%s/memory.events",
	        cg) >= (int)sizeof(c->oom_path))
		return;
	c->oom_kills = read_oom_kills(c->oom_path);
	if ((c->oom_wd =
	            inotify_add_watch(a->ino_fd, c->oom_path, IN_MODIFY)) == -1)
		log_warn("%s: %s", __func__, c->oom_path);
}

void
ino_io_cb(struct ev_io *io, int fd, unsigned events, void *arg)
{
	struct agent *a = arg;
	char buf[4096]
	    __attribute__((aligned(__alignof__(struct inotify_event))));
	const struct inotify_event *ie;
	struct ctr *c;
	ssize_t n, off;
	uint64_t k;

	(void)io;
	(void)events;
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		for (off = 0; off < n;
		     off += (ssize_t)(sizeof(*ie) + ie->len)) {
			ie = (const struct inotify_event *)(buf + off);
			for (c = a->ctrs; c != NULL; c = c->next) {
				if (c->oom_wd != ie->wd)
					continue;
				if ((k = read_oom_kills(c->oom_path)) >
				    c->oom_kills) {
					c->oom_kills = k;
					send_oom(a, c);
				}
			}
		}
	}
}
