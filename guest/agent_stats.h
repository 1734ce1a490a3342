/*
 * Container statistics from cgroup v2 files, as containerd's
 * io.containerd.cgroups.v2.Metrics (proto/cgroups_v2.proto), serialized.
 */
#ifndef QEMUBOX_GUEST_AGENT_STATS_H
#define QEMUBOX_GUEST_AGENT_STATS_H

#include <stddef.h>
#include <stdint.h>

/* cgdir: /sys/fs/cgroup/<path>. *out is malloc'd. */
int agent_cgroup_metrics(const char *cgdir, uint8_t **out, size_t *len);

#endif
