/*
 * The one reader of what the shim needs from a container's OCI spec
 * (config.json) besides its mounts (shim/storage.c) and what goes to the
 * guest: which sandbox the container belongs to, what kind of CRI
 * container it is, the network namespace CRI made, the host cgroup path
 * and the pod's declared size. `start` (the shim's grouping), the daemon
 * (sandbox uid and cgroup) and the VM backend all read it here, so they
 * cannot disagree.
 *
 *   sandbox_id   annotation io.containerd.runc.v2.group, else
 *                io.kubernetes.cri.sandbox-id, else the container's own id;
 *                must be a valid id (lib/qb_id.h)
 *   kind         io.kubernetes.cri.container-type: "sandbox" (the pause
 *                container, whose VM takes the pod's later containers),
 *                "container", or absent (a plain ctr container)
 *   netns        linux.namespaces[type=network].path, "" when none
 *   cgroups_path linux.cgroupsPath, "" when none
 *   extra_cpus   ceil(io.kubernetes.cri.sandbox-cpu-quota / -cpu-period)
 *                (0 when either is absent or <= 0)
 *   extra_mb     io.kubernetes.cri.sandbox-memory in MiB, rounded up
 *                (0 when absent or <= 0)
 *
 * A value that is there but malformed (not a string, not a decimal number,
 * too long) is an error naming it, never a silent default.
 */
#ifndef QEMUBOX_SHIM_OCI_SPEC_H
#define QEMUBOX_SHIM_OCI_SPEC_H

#include <limits.h>
#include <stdint.h>

#include <json-c/json.h>

#include "imsg/qemubox_imsg.h"
#include "lib/config.h"
#include "lib/error.h"

enum oci_kind {
	OCI_KIND_PLAIN,         /* no CRI annotation: a ctr container */
	OCI_KIND_CRI_SANDBOX,   /* the pod's pause container */
	OCI_KIND_CRI_CONTAINER, /* an app container of a pod */
};

struct oci_spec_info {
	char sandbox_id[QB_ID_MAX];
	enum oci_kind kind;
	char netns[PATH_MAX];
	char cgroups_path[PATH_MAX];
	unsigned extra_cpus;
	uint64_t extra_mb;
};

/* What a VM is booted with: config plus the pod's declared size. */
struct oci_vm_size {
	unsigned boot_cpus, max_cpus;
	unsigned memory_mb, max_memory_mb;
};

/* From a parsed spec; id is the container's. 0, or -1 with err. */
int oci_spec_info(struct json_object *spec, const char *id,
    struct oci_spec_info *out, struct qb_error *err);
/* The same from a config.json path. */
int oci_spec_info_file(const char *path, const char *id,
    struct oci_spec_info *out, struct qb_error *err);

/*
 * Boot CPUs and memory of the sandbox's VM: runtime.boot_cpus/memory_mb
 * plus the pod's extra; the max_* (hotplug bounds) grow to at least that.
 * Without hotplug the max is the boot value (no hotplug machine). -1 with
 * err when the sum is beyond what a VM may have (255 vCPUs, 1 TiB).
 */
int oci_spec_vm_size(const struct qb_config *cfg,
    const struct oci_spec_info *si, struct oci_vm_size *out,
    struct qb_error *err);

#endif
