/*
 * cgroup v2 files -> io.containerd.cgroups.v2.Metrics (guest/agent_stats.h).
 *
 * "key value" files (cpu.stat, memory.stat, memory.events) fill the
 * message field of the same name through the protobuf descriptor, so every
 * key the kernel and the message share is carried and unknown keys are
 * skipped.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guest/agent_stats.h"
#include "proto/cgroups_v2.pb-c.h"

static void
set_u64(ProtobufCMessage *m, const char *name, uint64_t v)
{
	const ProtobufCFieldDescriptor *f =
	    protobuf_c_message_descriptor_get_field_by_name(
	        m->descriptor, name);

	if (f == NULL || f->type != PROTOBUF_C_TYPE_UINT64 ||
	    f->label == PROTOBUF_C_LABEL_REPEATED)
		return;
	memcpy((char *)m + f->offset, &v, sizeof(v));
}

/* Lines "key value": each into the field named key. */
static void
read_kv(const char *dir, const char *file, ProtobufCMessage *m)
{
	char path[PATH_MAX], key[64];
	unsigned long long v;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	if ((f = fopen(path, "re")) == NULL)
		return;
	while (fscanf(f, "%63s %llu", key, &v) == 2)
		set_u64(m, key, v);
	fclose(f);
}

/* One number; "max" (no limit) reads as UINT64_MAX like containerd's. */
static uint64_t
read_u64(const char *dir, const char *file)
{
	char path[PATH_MAX], buf[64];
	FILE *f;
	uint64_t v = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	if ((f = fopen(path, "re")) == NULL)
		return 0;
	if (fgets(buf, sizeof(buf), f) != NULL)
		v = strncmp(buf, "max", 3) == 0 ? UINT64_MAX
		                                : strtoull(buf, NULL, 10);
	fclose(f);
	return v;
}

static void
read_io(const char *dir, Io__Containerd__Cgroups__V2__IOStat *io)
{
	char path[PATH_MAX], line[512], *tok, *save;
	Io__Containerd__Cgroups__V2__IOEntry *e, **nv;
	unsigned maj, min;
	FILE *f;

	snprintf(path, sizeof(path), "%s/io.stat", dir);
	if ((f = fopen(path, "re")) == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "%u:%u", &maj, &min) != 2)
			continue;
		if ((nv = realloc(
		         io->usage, (io->n_usage + 1) * sizeof(*nv))) == NULL ||
		    (e = malloc(sizeof(*e))) == NULL) {
			if (nv != NULL)
				io->usage = nv;
			break;
		}
		io->usage = nv;
		io__containerd__cgroups__v2__ioentry__init(e);
		e->major = maj;
		e->minor = min;
		strtok_r(line, " \n", &save);
		while ((tok = strtok_r(NULL, " \n", &save)) != NULL) {
			char *eq = strchr(tok, '=');

			if (eq == NULL)
				continue;
			*eq = '\0';
			set_u64(&e->base, tok, strtoull(eq + 1, NULL, 10));
		}
		io->usage[io->n_usage++] = e;
	}
	fclose(f);
}

int
agent_cgroup_metrics(const char *dir, uint8_t **out, size_t *len)
{
	Io__Containerd__Cgroups__V2__Metrics m;
	Io__Containerd__Cgroups__V2__PidsStat pids;
	Io__Containerd__Cgroups__V2__CPUStat cpu;
	Io__Containerd__Cgroups__V2__MemoryStat mem;
	Io__Containerd__Cgroups__V2__MemoryEvents ev;
	Io__Containerd__Cgroups__V2__IOStat io;
	size_t i;
	int rc = 0;

	io__containerd__cgroups__v2__metrics__init(&m);
	io__containerd__cgroups__v2__pids_stat__init(&pids);
	io__containerd__cgroups__v2__cpustat__init(&cpu);
	io__containerd__cgroups__v2__memory_stat__init(&mem);
	io__containerd__cgroups__v2__memory_events__init(&ev);
	io__containerd__cgroups__v2__iostat__init(&io);
	pids.current = read_u64(dir, "pids.current");
	pids.limit = read_u64(dir, "pids.max");
	read_kv(dir, "cpu.stat", &cpu.base);
	read_kv(dir, "memory.stat", &mem.base);
	mem.usage = read_u64(dir, "memory.current");
	mem.usage_limit = read_u64(dir, "memory.max");
	mem.max_usage = read_u64(dir, "memory.peak");
	mem.swap_usage = read_u64(dir, "memory.swap.current");
	mem.swap_limit = read_u64(dir, "memory.swap.max");
	read_kv(dir, "memory.events", &ev.base);
	read_io(dir, &io);
	m.pids = &pids;
	m.cpu = &cpu;
	m.memory = &mem;
	m.memory_events = &ev;
	m.io = &io;
	*len = io__containerd__cgroups__v2__metrics__get_packed_size(&m);
	if ((*out = malloc(*len ? *len : 1)) == NULL)
		rc = -1;
	else
		io__containerd__cgroups__v2__metrics__pack(&m, *out);
	for (i = 0; i < io.n_usage; i++)
		free(io.usage[i]);
	free(io.usage);
	return rc;
}
