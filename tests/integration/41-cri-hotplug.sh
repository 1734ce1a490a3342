#!/usr/bin/env bash
# A pod whose VM may grow (cpu_hotplug/memory_hotplug on: q35) through
# Kubernetes' CRI: the hotplug controller starts from the VM's real size
# (config plus the pod's declared size), and UpdateContainerResources with a
# larger memory limit first grows the VM (DIMMs the guest onlines), then
# applies the limit in the container's cgroup, as Kata does.
set -u
cd "$(dirname "$0")/../.."
. tests/lib/tap.sh
. tests/lib/containerd.sh
. tests/lib/qemubox.sh
. tests/lib/cri.sh

T0=$(date +%s)
on_exit 'cri_cleanup; ctd_stop; qb_teardown'
TAP_TIMEOUT=${TAP_TIMEOUT:-600}
CRI_HANDLER=qemubox
QB_RUNTIME_JSON='"boot_timeout": "180s", "boot_cpus": 1, "max_cpus": 2, "memory_mb": 512, "max_memory_mb": 1024'
QB_SECTIONS_JSON='"cpu_hotplug": { "enabled": true }, "memory_hotplug": { "enabled": true, "increment_size_mb": 128 }'
export QB_RUNTIME_JSON QB_SECTIONS_JSON
cri_suite_start "CRI hotplug"
LOG=$CTD_DIR/containerd.log
# Half a CPU and 128 MiB declared: the VM boots with 2 vCPUs, 640 MiB.
CRI_POD_LINUX='{ "resources": { "cpu_period": 100000, "cpu_quota": 50000, "memory_limit_in_bytes": 134217728 } }'
# Each test runs in a subshell: the ids live in a file.
IDS=$QB_DIR/hp-ids
load_ids() { [ -e "$IDS" ] && . "$IDS"; }

mem_total_mb() {
	load_ids
	cri_exec "$CTR" 30 awk '/^MemTotal/ { print int($2 / 1024) }' /proc/meminfo | jq -r .stdout
}

t_pod() {
	POD=$(cri_run_pod hp) || fail "RunPodSandbox failed" || return
	CTR=$(cri_create "$POD" app sleep 100000) || fail "CreateContainer failed" || return
	cri StartContainer "{\"container_id\":\"$CTR\"}" >/dev/null || fail "StartContainer failed" || return
	echo "POD=$POD CTR=$CTR" >"$IDS"
	cri_wait_state "$CTR" CONTAINER_RUNNING 60 || return
	grep -q "hotplug_ctl_new: sandbox $POD: cpu 2..2 vCPUs (fixed), memory 640..1024 MiB" "$LOG" ||
		fail "controller not started from the VM's size: $(grep -o 'hotplug_ctl_new: sandbox [^"]*' "$LOG")" || return
	echo "# guest MemTotal at boot: $(mem_total_mb) MiB"
}

t_update_grows() {
	local before after r t0=$SECONDS
	load_ids
	before=$(mem_total_mb)
	# 400 MiB for the container: config 512 + 512 (whole 128 MiB steps).
	cri UpdateContainerResources "{\"container_id\":\"$CTR\",\"linux\":{\"memory_limit_in_bytes\":419430400}}" \
		>/dev/null || fail "UpdateContainerResources failed" || return
	echo "# Update answered after $((SECONDS - t0)) s"
	after=$(mem_total_mb)
	echo "# guest MemTotal $before -> $after MiB"
	[ -n "$after" ] && [ "$after" -ge $((before + 300)) ] || fail "the VM did not grow: $before -> $after MiB" || return
	grep -q "sandbox_hotplug_resize: sandbox $POD: Update asks for .*1024 MiB (have 2, 640)" "$LOG" ||
		fail "no resize line in the shim's log: $(grep -o "sandbox_hotplug_resize: [^\"]*" "$LOG")" || return
	r=$(cri_exec "$CTR" 30 sh -c 'p=$(sed -n "s/^0:://p" /proc/self/cgroup); cat "/sys/fs/cgroup$p/memory.max"') ||
		fail "ExecSync failed" || return
	[ "$(jq -r .stdout <<<"$r" | xargs)" = 419430400 ] || fail "memory.max in the guest: $(jq .stdout <<<"$r")"
}

t_gone() {
	load_ids
	cri StopPodSandbox "{\"pod_sandbox_id\":\"$POD\"}" >/dev/null || fail "StopPodSandbox failed" || return
	cri RemovePodSandbox "{\"pod_sandbox_id\":\"$POD\"}" >/dev/null || fail "RemovePodSandbox failed" || return
	local left
	left=$(qb_procs_left)
	[ -z "$left" ] || fail "processes left:$left"
}

tap_run "a hotplug pod: the controller starts from config + the pod's size" t_pod
tap_run "UpdateContainerResources: the VM grows first, then memory.max in the guest" t_update_grows
tap_run "the pod goes, nothing left" t_gone
echo "# CRI hotplug wall time: $(( $(date +%s) - T0 ))s"
tap_done
