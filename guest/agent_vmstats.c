/*
 * Guest-wide usage (guest/agent_vmstats.h). Parsing is strict about the
 * lines it needs and ignores the rest: the kernel adds fields over time.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "guest/agent_vmstats.h"

/* The aggregate "cpu " line: user nice system idle iowait irq softirq steal. */
static int
read_proc_stat(const char *procdir, struct agent_vmstats *out)
{
	char path[PATH_MAX], line[512];
	unsigned long long v[8] = {0};
	FILE *f;
	int n = -1;

	snprintf(path, sizeof(path), "%s/stat", procdir);
	if ((f = fopen(path, "re")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "cpu ", 4) != 0)
			continue;
		n = sscanf(line + 4, "%llu %llu %llu %llu %llu %llu %llu %llu",
		    &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]);
		break;
	}
	fclose(f);
	if (n < 4) {
		errno = EINVAL;
		return -1;
	}
	out->cpu_busy_ticks = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
	out->cpu_total_ticks = out->cpu_busy_ticks + v[3] + v[4];
	return 0;
}

static int
read_meminfo(const char *procdir, struct agent_vmstats *out)
{
	char path[PATH_MAX], key[64];
	unsigned long long kb;
	int have = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/meminfo", procdir);
	if ((f = fopen(path, "re")) == NULL)
		return -1;
	while (fscanf(f, "%63s %llu kB ", key, &kb) == 2) {
		if (strcmp(key, "MemTotal:") == 0) {
			out->mem_total_kb = kb;
			have |= 1;
		} else if (strcmp(key, "MemAvailable:") == 0) {
			out->mem_available_kb = kb;
			have |= 2;
		}
	}
	fclose(f);
	if (have != 3) {
		errno = EINVAL;
		return -1;
	}
	return 0;
}

/* "online" is "0-3" or "0,2-3": count the CPUs it lists. */
static int
read_online(const char *cpudir, struct agent_vmstats *out)
{
	char path[PATH_MAX], buf[1024], *p, *tok, *save = NULL;
	unsigned a, b, n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/online", cpudir);
	if ((f = fopen(path, "re")) == NULL)
		return -1;
	p = fgets(buf, sizeof(buf), f);
	fclose(f);
	if (p == NULL) {
		errno = EINVAL;
		return -1;
	}
	buf[strcspn(buf, "\n")] = '\0';
	for (tok = strtok_r(buf, ",", &save); tok != NULL;
	     tok = strtok_r(NULL, ",", &save)) {
		if (sscanf(tok, "%u-%u", &a, &b) == 2 && b >= a && b < 4096)
			n += b - a + 1;
		else if (sscanf(tok, "%u", &a) == 1)
			n++;
	}
	out->cpus_online = n;
	return 0;
}

void
agent_vmstats_add_throttled(const char *cgdir, struct agent_vmstats *out)
{
	char path[PATH_MAX], key[64];
	unsigned long long v;
	FILE *f;

	if (snprintf(path, sizeof(path), "%s/cpu.stat", cgdir) >=
	    (int)sizeof(path))
		return;
	if ((f = fopen(path, "re")) == NULL)
		return;
	while (fscanf(f, "%63s %llu", key, &v) == 2)
		if (strcmp(key, "throttled_usec") == 0)
			out->throttled_usec += v;
	fclose(f);
}

int
agent_vmstats_read(
    const char *procdir, const char *cpudir, struct agent_vmstats *out)
{
	memset(out, 0, sizeof(*out));
	if (read_proc_stat(procdir, out) == -1 ||
	    read_meminfo(procdir, out) == -1 || read_online(cpudir, out) == -1)
		return -1;
	return 0;
}
