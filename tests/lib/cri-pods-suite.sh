# shellcheck shell=bash
# Pods through Kubernetes' CRI (containerd 1.6's CRI plugin driven by
# build/cri/cri.js), for the runtime handler $CRI_HANDLER. Sourced by
# tests/integration/39-cri-runc.sh (handler runc: checks the harness and the
# expectations themselves) and 40-cri-pods.sh (handler qemubox), so both hold
# qemubox to exactly what runc does.
#
# One pod "main" carries most tests (a VM per pod is slow under TCG): its ids
# are kept in $WORK/ids between tests (each test runs in a subshell).
set -u
cd "$(dirname "$0")/../.."
. tests/lib/tap.sh
. tests/lib/containerd.sh
. tests/lib/qemubox.sh
. tests/lib/cri.sh

T0=$(date +%s)
# The pod's cgroup parent (kubelet's pod cgroup): the sandbox spec's
# cgroupsPath becomes $CG_PARENT/<pod id>; removed at the end in every
# hierarchy (runc leaves the parent, qemubox too).
cg_parent_remove() {
	local m
	[ -n "${CG_PARENT:-}" ] || return 0
	for m in /sys/fs/cgroup/*; do
		[ -d "$m$CG_PARENT" ] && rmdir "$m$CG_PARENT"/* "$m$CG_PARENT" 2>/dev/null
	done
	return 0
}
cleanup() { cri_cleanup; ctd_stop; cg_parent_remove; qb_teardown; }
on_exit cleanup

cri_suite_start "CRI pods ($CRI_HANDLER)"
WORK=$QB_DIR/work
mkdir -p "$WORK"
CG_PARENT=$QB_CGROUP_PARENT-pods
# The pod "main" declares half a CPU and 128 MiB (containerd passes them as
# io.kubernetes.cri.sandbox-cpu-quota/-period and -memory annotations).
CRI_POD_LINUX=$(jq -cn --arg cg "$CG_PARENT" '{ cgroup_parent: $cg,
	resources: { cpu_period: 100000, cpu_quota: 50000, memory_limit_in_bytes: 134217728 } }')

# --- helpers -----------------------------------------------------------------

save_id() { echo "$1=$2" >>"$WORK/ids"; }
id_of() { sed -n "s/^$1=//p" "$WORK/ids" 2>/dev/null | tail -1; }
start_ctr() { cri StartContainer "{\"container_id\":\"$1\"}" >/dev/null; }
ctr_status() { cri ContainerStatus "{\"container_id\":\"$1\"}" | jq -c .status; }

# exec_expect ID WANT_STDOUT WANT_STDERR WANT_EXIT CMD...
exec_expect() {
	local id=$1 out=$2 err=$3 code=$4 r
	shift 4
	r=$(cri_exec "$id" 30 "$@") || fail "ExecSync $* failed" || return
	[ "$(jq -r .stdout <<<"$r")" = "$out" ] || fail "ExecSync $*: stdout $(jq .stdout <<<"$r"), want '$out'" || return
	[ "$(jq -r .stderr <<<"$r")" = "$err" ] || fail "ExecSync $*: stderr $(jq .stderr <<<"$r"), want '$err'" || return
	[ "$(jq -r .exit_code <<<"$r")" = "$code" ] || fail "ExecSync $*: exit $(jq .exit_code <<<"$r"), want $code"
}

# Netns, processes and (for qemubox) state that a removed pod must not leave.
assert_pod_gone() {
	local pod=$1 left n
	cri ListPodSandbox '{}' | jq -e --arg id "$pod" 'all(.items[]; .id != $id)' >/dev/null ||
		fail "pod $pod still listed" || return
	cri ListContainers "{\"filter\":{\"pod_sandbox_id\":\"$pod\"}}" | jq -e '.containers == []' >/dev/null ||
		fail "containers of pod $pod still listed" || return
	# The pod's own netns (netns names are host-wide: other suites on the
	# machine make and remove theirs meanwhile).
	n=$(id_of "netns-$pod")
	[ -n "$n" ] || fail "no netns recorded for pod $pod" || return
	[ ! -e "$n" ] || fail "netns left: $n" || return
	[ -z "$(ctd_shim_pids_of_pod "$pod")" ] || fail "shim of pod $pod still running" || return
	# IPAM: host-local's lease files name the container id CNI ran for.
	left=$(grep -rlF -- "$pod" "$QB_DIR/var/lib/cni/networks" 2>/dev/null)
	[ -z "$left" ] || fail "IP lease left: $left" || return
	if [ "$CRI_HANDLER" = qemubox ]; then
		left=$(qb_procs_left)
		cri ListPodSandbox '{}' | jq -e '.items == []' >/dev/null && [ -n "$left" ] &&
			{ fail "processes left:$left"; return 1; }
		left=$(ls "$QB_STATE" 2>/dev/null | grep -Ev '^(layers|cni-config\.db|cni-config\.db-lock)$' | grep -F "$pod")
		[ -z "$left" ] || fail "state left in $QB_STATE: $left" || return
	fi
	return 0
}

# Shims whose command line names the pod (runc's -id, qemubox's -id).
ctd_shim_pids_of_pod() {
	local p
	for p in $(ctd_shim_pids); do
		tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -qF -- "$1" && echo "$p"
	done
}

# --- tests -------------------------------------------------------------------

t_status() {
	local r
	r=$(cri Status '{}') || fail "Status failed" || return
	jq -e '[.status.conditions[] | select(.status)] | length == 2' <<<"$r" >/dev/null ||
		fail "runtime or network not ready: $r"
}

t_pod_up() {
	local pod r
	pod=$(cri_run_pod main) || fail "RunPodSandbox failed" || return
	save_id pod "$pod"
	r=$(cri PodSandboxStatus "{\"pod_sandbox_id\":\"$pod\",\"verbose\":true}") || fail "PodSandboxStatus failed" || return
	save_id "netns-$pod" "$(jq -r '.info.info | fromjson | .runtimeSpec.linux.namespaces[] |
		select(.type == "network") | .path' <<<"$r")"
	[ -e "$(id_of "netns-$pod")" ] || fail "no netns in the sandbox's spec: $(id_of "netns-$pod")" || return
	[ "$(jq -r .status.state <<<"$r")" = SANDBOX_READY ] || fail "pod not ready: $r" || return
	[ "$(jq -r .status.runtime_handler <<<"$r")" = "$CRI_HANDLER" ] || fail "handler: $r" || return
	jq -r .status.network.ip <<<"$r" | grep -Eq '^[0-9]+(\.[0-9]+){3}$' || fail "no pod IP: $r" || return
	# The lease assert_pod_gone expects to see released.
	grep -rqF -- "$pod" "$QB_DIR/var/lib/cni/networks" || fail "no IP lease names pod $pod"
}

# One container exits 3, one serves HTTP on port 8080, one has a tty and sleeps.
t_three_containers() {
	local pod c s r
	pod=$(id_of pod)
	[ -n "$pod" ] || fail "no pod" || return
	c=$(cri_create "$pod" exiter sh -c 'echo to-stdout; echo to-stderr >&2; exit 3') ||
		fail "create exiter" || return
	s=$(cri_create "$pod" server sh -c 'mkdir -p /www && echo pong >/www/index.html && exec httpd -f -p 8080 -h /www') ||
		fail "create server" || return
	r=$(CRI_TTY=true cri_create "$pod" shell sleep 100000) || fail "create shell" || return
	save_id exiter "$c"; save_id server "$s"; save_id shell "$r"
	start_ctr "$c" || fail "start exiter" || return
	start_ctr "$s" || fail "start server" || return
	start_ctr "$r" || fail "start shell" || return
	cri_wait_state "$c" CONTAINER_EXITED 60 || fail "exiter did not exit" || return
	[ "$(ctr_status "$c" | jq .exit_code)" = 3 ] || fail "exiter: $(ctr_status "$c")" || return
	cri_wait_state "$s" CONTAINER_RUNNING 10 || fail "server not running" || return
	cri_wait_state "$r" CONTAINER_RUNNING 10 || fail "shell not running"
}

# The sandbox's host cgroup is the one its spec names: runc puts the pause
# process there; qemubox puts the VM there (QEMU and vmmon), so kubelet's
# accounting sees it.
t_pod_cgroup() {
	local pod dir p comms=
	pod=$(id_of pod)
	dir=/sys/fs/cgroup/memory$CG_PARENT/$pod
	[ -d "$dir" ] || fail "no cgroup $dir" || return
	for p in $(cat "$dir/cgroup.procs"); do
		comms="$comms $(cat "/proc/$p/comm" 2>/dev/null)"
	done
	if [ "$CRI_HANDLER" = qemubox ]; then
		grep -q 'qemu-system' <<<"$comms" && grep -q 'qemubox-vmmon' <<<"$comms" ||
			fail "QEMU and vmmon not in $dir:$comms"
	else
		[ -n "${comms// /}" ] || fail "nothing in $dir"
	fi
}

# The VM is sized for the pod: config (1 vCPU, 512 MiB) plus the declared
# half CPU (rounded up to one vCPU) and 128 MiB.
t_pod_size() {
	local sh r
	sh=$(id_of shell)
	exec_expect "$sh" 2 "" 0 sh -c 'grep -c ^processor /proc/cpuinfo' || return
	r=$(cri_exec "$sh" 30 awk '/^MemTotal:/ { print $2 }' /proc/meminfo) || fail "meminfo" || return
	[ "$(jq -r .stdout <<<"$r")" -gt $((512 * 1024)) ] ||
		fail "guest MemTotal $(jq -r .stdout <<<"$r") kB: not over the 512 MiB of config alone"
}

# containerd writes CRI-format lines ("TIME STREAM F text") to the log path.
t_logs() {
	local c log
	c=$(id_of exiter)
	log=$(ctr_status "$c" | jq -r .log_path)
	[ -f "$log" ] || fail "no log file $log" || return
	grep -Eq '^[0-9TZ:.+-]+ stdout F to-stdout$' "$log" || fail "stdout line missing: $(cat "$log")" || return
	grep -Eq '^[0-9TZ:.+-]+ stderr F to-stderr$' "$log" || fail "stderr line missing: $(cat "$log")"
}

t_exec() {
	local sh
	sh=$(id_of shell)
	exec_expect "$sh" "hi" "there" 7 sh -c 'echo hi; echo there >&2; exit 7' || return
	exec_expect "$sh" "shell" "" 0 sh -c 'echo $QB_CONTAINER' || return
	exec_expect "$sh" "" "" 0 true || return
	exec_expect "$(id_of server)" "pong" "" 0 cat /www/index.html
}

# A timed-out ExecSync fails and leaves no process behind.
t_exec_timeout() {
	local sh t0 r
	sh=$(id_of shell)
	t0=$(date +%s)
	r=$(cri_exec "$sh" 2 sleep 4242 2>&1) && fail "ExecSync did not time out: $r" && return 1
	grep -qi 'timeout\|deadline' <<<"$r" || fail "error does not name the timeout: $r" || return
	[ $(( $(date +%s) - t0 )) -lt 30 ] || fail "timeout took $(( $(date +%s) - t0 ))s" || return
	sleep 1
	r=$(cri_exec "$sh" 30 ps) || fail "ps failed" || return
	! jq -r .stdout <<<"$r" | grep -q 'sleep 4242' || fail "exec process left: $(jq -r .stdout <<<"$r")"
}

# The pod IP CRI's CNI gave the netns is the one the containers use: the
# shim reused CRI's netns (privnet CRI mode) instead of running CNI again.
t_pod_ip() {
	local ip r
	ip=$(cri PodSandboxStatus "{\"pod_sandbox_id\":\"$(id_of pod)\"}" | jq -r .status.network.ip) ||
		fail "PodSandboxStatus failed" || return
	r=$(cri_exec "$(id_of shell)" 30 ip -4 -o addr show) || fail "ip addr failed" || return
	grep -qF " $ip/" <<<"$(jq -r .stdout <<<"$r")" ||
		fail "pod IP $ip not on the container's interfaces: $(jq -r .stdout <<<"$r")"
}

t_localhost() {
	local i r
	for i in $(seq 1 20); do
		r=$(cri_exec "$(id_of shell)" 30 wget -qO- http://127.0.0.1:8080/) &&
			[ "$(jq -r .stdout <<<"$r")" = pong ] && return 0
		sleep 0.5
	done
	fail "shell could not reach server over localhost: $r"
}

t_hostname_dns() {
	local sh
	sh=$(id_of shell)
	exec_expect "$sh" "main" "" 0 hostname || return
	exec_expect "$(id_of server)" "main" "" 0 hostname || return
	exec_expect "$sh" "main" "" 0 cat /etc/hostname || return
	exec_expect "$sh" "nameserver 192.0.2.53" "" 0 grep -x 'nameserver 192.0.2.53' /etc/resolv.conf || return
	exec_expect "$sh" "localhost" "" 0 sh -c 'grep -ow localhost /etc/hosts | head -1'
}

# Two containers share an emptyDir-style host directory (rw, as kubelet
# binds it) and a file (as kubelet binds /dev/termination-log); one more
# directory is read-only. Writes cross both ways and
# between the containers, concurrent appends from both lose nothing; the ro
# one refuses writes; the host keeps what they wrote after both are removed.
t_shared_volume() {
	local pod a b dir ro m r
	pod=$(id_of pod)
	dir=$(mktemp -d "$WORK/emptydir.XXXXXX") && ro=$(mktemp -d "$WORK/config.XXXXXX") || return
	chmod 0777 "$dir"
	echo from-host >"$dir/h"
	echo setting >"$ro/conf"
	# A file bind, as kubelet binds /dev/termination-log: live both ways.
	: >"$ro.msg"
	m=$(jq -cn --arg d "$dir" --arg r "$ro" --arg f "$ro.msg" '[{container_path: "/shared", host_path: $d},
		{container_path: "/etc/app", host_path: $r, readonly: true},
		{container_path: "/dev/termination-log", host_path: $f}]')
	a=$(CRI_MOUNTS=$m cri_create "$pod" vol-a sh -c 'echo from-a >/shared/a; exec sleep 100000') ||
		fail "create vol-a" || return
	start_ctr "$a" || fail "start vol-a" || return
	b=$(CRI_MOUNTS=$m cri_create "$pod" vol-b sleep 100000) || fail "create vol-b" || return
	start_ctr "$b" || fail "start vol-b" || return
	cri_wait_state "$b" CONTAINER_RUNNING 60 || fail "vol-b not running" || return
	exec_expect "$b" "from-host" "" 0 cat /shared/h || return
	for i in $(seq 1 20); do
		r=$(cri_exec "$b" 30 cat /shared/a) && [ "$(jq -r .stdout <<<"$r")" = from-a ] && break
		sleep 0.5
	done
	[ "$(jq -r .stdout <<<"$r")" = from-a ] || fail "vol-b does not see vol-a's write: $r" || return
	exec_expect "$b" "" "" 0 sh -c 'echo from-b >/shared/b' || return
	[ "$(cat "$dir/b" 2>/dev/null)" = from-b ] || fail "the host does not see vol-b's write" || return
	exec_expect "$a" "from-b" "" 0 cat /shared/b || return
	exec_expect "$a" "setting" "" 0 cat /etc/app/conf || return
	exec_expect "$a" "" "" 0 sh -c 'echo bye >/dev/termination-log' || return
	[ "$(cat "$ro.msg")" = bye ] || fail "the host does not see the file bind's write: '$(cat "$ro.msg")'" || return
	echo again >>"$ro.msg"
	exec_expect "$b" "bye again" "" 0 sh -c 'tr "\n" " " </dev/termination-log | sed "s/ $//"' || return
	# Concurrent writers: both containers append 300 lines at once.
	cri_exec "$a" 60 sh -c 'i=0; while [ $i -lt 300 ]; do echo a$i >>/shared/log; i=$((i+1)); done' >"$WORK/wa" &
	cri_exec "$b" 60 sh -c 'i=0; while [ $i -lt 300 ]; do echo b$i >>/shared/log; i=$((i+1)); done' >"$WORK/wb" &
	wait
	[ "$(grep -c '^a' "$dir/log")/$(grep -c '^b' "$dir/log")/$(wc -l <"$dir/log")" = 300/300/600 ] ||
		fail "concurrent appends: $(grep -c '^a' "$dir/log") from a, $(grep -c '^b' "$dir/log") from b, $(wc -l <"$dir/log") lines" || return
	r=$(cri_exec "$a" 30 sh -c 'echo x >/etc/app/conf') || fail "ExecSync ro write" || return
	[ "$(jq -r .exit_code <<<"$r")" != 0 ] || fail "a write to the read-only volume succeeded" || return
	[ "$(cat "$ro/conf")" = setting ] || fail "the read-only host file changed" || return
	for c in "$a" "$b"; do
		cri StopContainer "{\"container_id\":\"$c\",\"timeout\":1}" >/dev/null &&
			cri RemoveContainer "{\"container_id\":\"$c\"}" >/dev/null || fail "remove $c" || return
	done
	[ "$(cat "$dir/a" "$dir/b" "$dir/h" | tr '\n' ' ')$(wc -l <"$dir/log")" = "from-a from-b from-host 600" ] ||
		fail "the host directory lost files: $(ls "$dir")"
}

# UpdateContainerResources (what Kubernetes' in-place resize and VPA use):
# the new memory and CPU limits reach the container's cgroup, found the way
# a runtime library finds it (/proc/self/cgroup; cgroup v2 or v1).
CG_READ='p=$(sed -n "s/^0:://p" /proc/self/cgroup); if [ -n "$p" ] && [ -e "/sys/fs/cgroup$p/memory.max" ]; then
	cat "/sys/fs/cgroup$p/memory.max" "/sys/fs/cgroup$p/cpu.max"
elif [ -e /sys/fs/cgroup/memory.max ]; then cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/cpu.max
else cat /sys/fs/cgroup/memory/memory.limit_in_bytes; echo "$(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us) $(cat /sys/fs/cgroup/cpu/cpu.cfs_period_us)"; fi'
t_update() {
	local sh r
	sh=$(id_of shell)
	cri UpdateContainerResources "{\"container_id\":\"$sh\",\"linux\":{\"memory_limit_in_bytes\":100663296,\"cpu_period\":100000,\"cpu_quota\":50000}}" >/dev/null ||
		fail "UpdateContainerResources failed" || return
	r=$(cri_exec "$sh" 30 sh -c "$CG_READ") || fail "ExecSync failed" || return
	[ "$(jq -r .stdout <<<"$r" | xargs)" = "100663296 50000 100000" ] ||
		fail "limits in the container's cgroup: $(jq .stdout <<<"$r"), want 100663296 and '50000 100000'"
}

# StopContainer: SIGTERM, then SIGKILL once the grace period is over.
t_stop_grace() {
	local pod c t0 dt n0 n i
	pod=$(id_of pod)
	c=$(cri_create "$pod" stubborn sh -c 'trap "" TERM; while :; do sleep 1; done') || fail "create" || return
	start_ctr "$c" || fail "start" || return
	cri_wait_state "$c" CONTAINER_RUNNING 30 || return 1
	if [ "$CRI_HANDLER" = qemubox ]; then
		n0=$(guest_scsi_disks) || fail "count guest disks" || return
	fi
	t0=$(date +%s.%N)
	cri StopContainer "{\"container_id\":\"$c\",\"timeout\":3}" >/dev/null || fail "StopContainer failed" || return
	dt=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%d", (b - a) * 10 }')
	[ "$dt" -ge 28 ] || fail "stopped after ${dt}00 ms, before the 3 s grace period" || return
	[ "$(cri_state "$c")" = CONTAINER_EXITED ] || fail "not exited: $(ctr_status "$c")" || return
	[ "$(ctr_status "$c" | jq .exit_code)" = 137 ] || fail "exit code: $(ctr_status "$c")" || return
	cri RemoveContainer "{\"container_id\":\"$c\"}" >/dev/null || fail "RemoveContainer failed" || return
	[ "$CRI_HANDLER" = qemubox ] || return 0
	# Its hot-added disks left the VM (device_del, DEVICE_DELETED).
	for i in $(seq 1 40); do
		n=$(guest_scsi_disks) && [ "$n" -lt "$n0" ] && return 0
		sleep 0.5
	done
	fail "the VM still has $n SCSI disks (had $n0 with the container)"
}

# SCSI disks the pod's VM sees (the shell container shares the VM's kernel).
guest_scsi_disks() {
	local r
	r=$(cri_exec "$(id_of shell)" 30 sh -c 'grep -c " sd[a-z]*$" /proc/partitions') || return 1
	jq -r .stdout <<<"$r"
}

# Restart in the same pod: remove the exited container, create the same name.
t_restart_same_name() {
	local pod c n
	pod=$(id_of pod)
	c=$(id_of exiter)
	cri RemoveContainer "{\"container_id\":\"$c\"}" >/dev/null || fail "RemoveContainer failed" || return
	cri RemoveContainer "{\"container_id\":\"$c\"}" >/dev/null || fail "second RemoveContainer failed" || return
	n=$(cri_create "$pod" exiter sh -c 'echo again; exit 3') || fail "create again" || return
	[ "$n" != "$c" ] || fail "same container id reused" || return
	start_ctr "$n" || fail "start again" || return
	cri_wait_state "$n" CONTAINER_EXITED 60 || return 1
	[ "$(ctr_status "$n" | jq .exit_code)" = 3 ] || fail "exit code: $(ctr_status "$n")" || return
	grep -q ' stdout F again$' "$(ctr_status "$n" | jq -r .log_path)" || fail "new log lacks output"
}

t_pod_stop_remove() {
	local pod
	pod=$(id_of pod)
	cri StopPodSandbox "{\"pod_sandbox_id\":\"$pod\"}" >/dev/null || fail "StopPodSandbox failed" || return
	cri StopPodSandbox "{\"pod_sandbox_id\":\"$pod\"}" >/dev/null || fail "second StopPodSandbox failed" || return
	[ "$(cri_state "$(id_of shell)")" = CONTAINER_EXITED ] || fail "shell still $(cri_state "$(id_of shell)")" || return
	cri RemovePodSandbox "{\"pod_sandbox_id\":\"$pod\"}" >/dev/null || fail "RemovePodSandbox failed" || return
	cri RemovePodSandbox "{\"pod_sandbox_id\":\"$pod\"}" >/dev/null || fail "second RemovePodSandbox failed" || return
	assert_pod_gone "$pod"
}

# An image that does not exist: CreateContainer fails and says so; the pod
# and its running containers are not affected (in the suite's pod: another
# VM boot would only add time).
t_bad_image() {
	local pod r
	pod=$(id_of pod)
	r=$(CRI_IMAGE=docker.io/library/qb-no-such-image:none cri_create "$pod" bad sh 2>&1) &&
		fail "CreateContainer succeeded: $r" && return 1
	grep -q 'qb-no-such-image' <<<"$r" || fail "error does not name the image: $r" || return
	[ "$(cri PodSandboxStatus "{\"pod_sandbox_id\":\"$pod\"}" | jq -r .status.state)" = SANDBOX_READY ] ||
		fail "pod not ready after the failed create" || return
	cri ListContainers "{\"filter\":{\"pod_sandbox_id\":\"$pod\"}}" |
		jq -e 'all(.containers[]; .metadata.name != "bad")' >/dev/null ||
		fail "a container was left for the bad image" || return
	exec_expect "$(id_of shell)" "still here" "" 0 echo still here
}

tap_run "CRI runtime and network ready" t_status
tap_run "RunPodSandbox: ready, with an IP" t_pod_up
tap_run "3 containers in one pod: exit 3, server, tty" t_three_containers
tap_run "the pod's host cgroup is the sandbox spec's cgroupsPath" t_pod_cgroup
[ "$CRI_HANDLER" = qemubox ] && tap_run "the VM has the pod's declared CPU and memory" t_pod_size
tap_run "container logs in CRI format at the log path" t_logs
tap_run "ExecSync outputs and exit codes" t_exec
tap_run "ExecSync timeout leaves no process" t_exec_timeout
tap_run "the containers have the pod IP of CRI's netns" t_pod_ip
tap_run "two containers talk over localhost" t_localhost
tap_run "pod hostname and resolv.conf" t_hostname_dns
tap_run "UpdateContainerResources: new memory and CPU limits in the container's cgroup" t_update
tap_run "StopContainer: SIGKILL after the grace period" t_stop_grace
tap_run "two containers share a rw host directory (emptyDir); a ro one stays read-only" t_shared_volume
tap_run "restart: remove + create the same name" t_restart_same_name
tap_run "bad image fails cleanly, the pod goes on" t_bad_image
tap_run "StopPodSandbox, RemovePodSandbox idempotent, nothing left" t_pod_stop_remove
echo "# CRI ($CRI_HANDLER) wall time: $(( $(date +%s) - T0 ))s"
tap_done
