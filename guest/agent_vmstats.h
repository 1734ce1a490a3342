/*
 * What the whole guest uses, for the host's hotplug controller: cumulative
 * CPU time from /proc/stat, memory from /proc/meminfo, online vCPUs and the
 * containers' CPU throttling from their cgroups. The host takes deltas
 * between two samples, so every counter here only grows.
 */
#ifndef QEMUBOX_GUEST_AGENT_VMSTATS_H
#define QEMUBOX_GUEST_AGENT_VMSTATS_H

#include <stdint.h>

/* Cumulative CPU ticks of all online CPUs; busy is everything but idle
 * and iowait. */
struct agent_vmstats {
	uint64_t cpu_busy_ticks;
	uint64_t cpu_total_ticks;
	uint32_t cpus_online;
	uint64_t mem_total_kb;
	uint64_t mem_available_kb;
	uint64_t throttled_usec; /* the containers' cpu.stat throttled_usec */
};

/*
 * procdir: "/proc"; cpudir: "/sys/devices/system/cpu" (tests pass
 * directories of their own). Fills everything but throttled_usec (0).
 */
int agent_vmstats_read(
    const char *procdir, const char *cpudir, struct agent_vmstats *out);
/* Adds cgdir's cpu.stat throttled_usec (a container's cgroup) to out. */
void agent_vmstats_add_throttled(const char *cgdir, struct agent_vmstats *out);

#endif
