/*
 * What the whole guest uses, for the host's hotplug controller: cumulative
 * CPU time from /proc/stat, memory from /proc/meminfo, online vCPUs and the
 * containers' CPU throttling from their cgroups. The host takes deltas
 * between two samples, so every counter here only grows.
 */
#ifndef QEMUBOX_GUEST_AGENT_VMSTATS_H
#define QEMUBOX_GUEST_AGENT_VMSTATS_H

#include <stdint.h>

struct agent_vmstats {
	uint64_t
	    cpu_busy_ticks; /* all CPUs: user+nice+system+irq+softirq+steal */
	uint64_t cpu_total_ticks; /* the same plus idle and iowait */
	uint32_t cpus_online;
	uint64_t mem_total_kb;
	uint64_t mem_available_kb;
	uint64_t
	    throttled_usec; /* sum of cpu.stat throttled_usec below cgroot */
};

/*
 * procdir: "/proc"; cpudir: "/sys/devices/system/cpu"; cgroot: the cgroup2
 * directory whose children are the containers' cgroups (or NULL). Tests pass
 * directories of their own.
 */
int agent_vmstats_read(const char *procdir, const char *cpudir,
    const char *cgroot, struct agent_vmstats *out);

#endif
