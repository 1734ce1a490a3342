#!/usr/bin/env bash
# Confinement of live sandboxes against docs/SECURITY.md's table: start two
# containers (two sandboxes) through a private containerd, find the shim,
# privnet, vmmon and QEMU of each, and read /proc/<pid>/status of each (Uid,
# Gid, CapEff, CapPrm, CapBnd, NoNewPrivs, Seccomp), their PID namespaces and
# cgroups. The two sandboxes must share no uid, PID namespace or cgroup, and
# one sandbox's uid must not be able to signal the other's QEMU. A shim that
# crashes while its QEMU lives must not have its uid handed out again until
# qemubox-cleanup gave it back. Then: the shim's Landlock really fences it,
# and a VM dying under a confined shim ends cleanly.
set -u
SELF=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
cd "$(dirname "$0")/../.."
# qemubox-cleanup without an id (the crash tests, the exit trap) judges every
# /run/netns/qemubox-* it sees: the suite runs in a private mount namespace
# with its own /run/netns (containerd, the shims and privnet start inside
# it), so it can never remove a netns of another test on the machine.
if [ -z "${QB_CONF_TEST_NS:-}" ]; then
	if [ "$(id -u)" = 0 ] && unshare -m --propagation private true 2>/dev/null; then
		exec env QB_CONF_TEST_NS=1 unshare -m --propagation private "$SELF" "$@"
	fi
	. tests/lib/tap.sh
	tap_skip_all 1 1 confinement "needs root and a private mount namespace (unshare -m)"
fi
. tests/lib/tap.sh
. tests/lib/containerd.sh
. tests/lib/qemubox.sh
if ! mkdir -p /run/netns || ! mount -t tmpfs -o mode=0755 qbconf /run/netns; then
	tap_skip_all 1 1 confinement "cannot mount a private /run/netns"
fi

A=$QB_T-conf-a
B=$QB_T-conf-b
C=$QB_T-conf-c
D=$QB_T-conf-d
E=$QB_T-conf-e
F=$QB_T-conf-f
cleanup() {
	local id
	if [ -n "${CTD_SOCK:-}" ]; then
		for id in $(ctd_ctr containers ls -q 2>/dev/null); do
			case " $A $B $C $D $E $F " in *" $id "*) qb_remove "$id" ;; esac
		done
	fi
	# a vmmon this suite stopped must not outlive it
	[ -n "${VMMON_B:-}" ] && kill -KILL "$VMMON_B" 2>/dev/null
	ctd_stop
	[ -n "${QB_DIR:-}" ] && "$QB_PREFIX/bin/qemubox-cleanup" >/dev/null 2>&1
	qb_teardown
}
on_exit cleanup

if [ "$(id -u)" != 0 ]; then
	echo "ok 1 - confinement # SKIP needs root"
	exit 0
fi
QB_DEBUG=true
# Up to four VMs boot here on a shared machine: the default 30 s is tight.
QB_RUNTIME_JSON='"boot_timeout": "120s"'
qb_suite_start confinement

start() { # id
	ctd_ctr run -d --runtime "$QB_RUNTIME" "$CTD_IMAGE" "$1" sleep 100000 >"$QB_DIR/run-$1.out" 2>&1 &&
		qb_wait_status "$1" RUNNING 120
}
start "$A"; ra=$?
start "$B"; rb=$?
if [ $ra != 0 ] || [ $rb != 0 ]; then
	echo "not ok 1 - two sandboxes start: $(tail -q -n 3 "$QB_DIR/run-$A.out" "$QB_DIR/run-$B.out" | tr '\n' ' ')"
	exit 1
fi

# The processes of sandbox $1: the shim whose cwd is its bundle, its children
# privnet and vmmon, and QEMU named after the sandbox. Prints
# "SHIM PRIVNET VMMON QEMU".
pid_by_exe() { # exe-path parent-pid
	local p
	for p in /proc/[0-9]*; do
		[ "$(readlink "$p/exe" 2>/dev/null)" = "$1" ] || continue
		[ -z "${2:-}" ] || [ "$(awk '/^PPid:/ { print $2 }' "$p/status" 2>/dev/null)" = "$2" ] || continue
		echo "${p#/proc/}"
		return 0
	done
	return 1
}
sandbox_pids() {
	local p shim= privnet vmmon qemu
	for p in /proc/[0-9]*; do
		[ "$(readlink "$p/exe" 2>/dev/null)" = "$QB_PREFIX/bin/containerd-shim-qemubox-v1" ] || continue
		case "$(readlink "$p/cwd" 2>/dev/null)" in */"$1") shim=${p#/proc/}; break ;; esac
	done
	privnet=$(pid_by_exe "$QB_PREFIX/libexec/qemubox/qemubox-privnet" "$shim")
	vmmon=$(pid_by_exe "$QB_PREFIX/libexec/qemubox/qemubox-vmmon" "$shim")
	qemu=$(grep -l -a -F -e "qemubox-$1" /proc/[0-9]*/cmdline 2>/dev/null |
		while read -r f; do p=${f#/proc/}; p=${p%/cmdline}
			case "$({ tr '\0' ' ' <"$f"; } 2>/dev/null)" in qemu-system-*|*/qemu-system-*) echo "$p"; break ;; esac
		done)
	echo "${shim:-none} ${privnet:-none} ${vmmon:-none} ${qemu:-none}"
}
read -r SHIM PRIVNET VMMON QEMU < <(sandbox_pids "$A")
SPAWNER=$(pid_by_exe "$QB_PREFIX/libexec/qemubox/qemubox-spawner" "$SHIM")
read -r SHIM_B _ VMMON_B QEMU_B < <(sandbox_pids "$B")
# A sandbox's cgroup: its spec's linux.cgroupsPath (ctr sets
# /<namespace>/<id>, CRI /kubepods/...), else cgroup_parent/<id>.
want_cg() { # shim-pid id
	local p
	p=$(jq -r '.linux.cgroupsPath // ""' "/proc/$1/cwd/config.json" 2>/dev/null)
	echo "${p:-$QB_CGROUP_PARENT/$2}"
}
CG_A=$(want_cg "$SHIM" "$A")
CG_B=$(want_cg "$SHIM_B" "$B")

# field NAME of /proc/PID/status
st() { awk -v k="$2:" '$1 == k { $1 = ""; sub(/^ /, ""); print; exit }' "/proc/$1/status"; }
cap() { printf '0x%x' "$((16#$(st "$1" "$2")))"; }
uid_of() { st "$1" Uid | awk '{ print $1 }'; }
UID_A=$(uid_of "$VMMON" 2>/dev/null)
UID_B=$(uid_of "$VMMON_B" 2>/dev/null)
KVM_GID=$(getent group kvm | cut -d: -f3)

# check PID uid capeff capprm capbnd nnp seccomp
check() {
	local pid=$1 uid=$2 eff=$3 prm=$4 bnd=$5 nnp=$6 sc=$7 got
	[ -n "$pid" ] && [ -r "/proc/$pid/status" ] || { fail "process not found"; return 1; }
	got=$(st "$pid" Uid | awk '{ print $1, $2, $3, $4 }')
	[ "$got" = "$uid $uid $uid $uid" ] || fail "Uid: $got, want $uid (all four)" || return
	[ "$(cap "$pid" CapEff)" = "$eff" ] || fail "CapEff $(cap "$pid" CapEff), want $eff" || return
	[ "$(cap "$pid" CapPrm)" = "$prm" ] || fail "CapPrm $(cap "$pid" CapPrm), want $prm" || return
	[ "$(cap "$pid" CapBnd)" = "$bnd" ] || fail "CapBnd $(cap "$pid" CapBnd), want $bnd" || return
	[ "$(cap "$pid" CapAmb)" = 0x0 ] || [ "$bnd" != 0x0 ] || fail "CapAmb $(cap "$pid" CapAmb)" || return
	[ "$(st "$pid" NoNewPrivs)" = "$nnp" ] || fail "NoNewPrivs $(st "$pid" NoNewPrivs), want $nnp" || return
	[ "$(st "$pid" Seccomp)" = "$sc" ] || fail "Seccomp $(st "$pid" Seccomp), want $sc" || return
	return 0
}
# A sandbox process: its own uid from the run's range, gid the same
# number, supplementary groups exactly that gid and kvm.
check_sandbox() { # pid uid
	local got want
	[ -n "$2" ] && [ "$2" -ge "$QB_UID_FIRST" ] && [ "$2" -le "$((QB_UID_FIRST + 255))" ] ||
		fail "uid '$2' is not from vmmon_uid_range $QB_UID_RANGE" || return
	check "$1" "$2" 0x0 0x0 0x0 1 2 || return
	got=$(st "$1" Gid | awk '{ print $1, $2, $3, $4 }')
	[ "$got" = "$2 $2 $2 $2" ] || fail "Gid: $got, want $2 (all four)" || return
	got=$(st "$1" Groups | tr ' ' '\n' | grep . | sort -n | tr '\n' ' ')
	want=$(printf '%s\n' "$2" $KVM_GID | sort -n | tr '\n' ' ')
	[ "$got" = "$want" ] || fail "Groups: '$got', want '$want' (its gid + kvm for /dev/kvm)" || return
}

t_shim() { check "$SHIM" 0 0x0 0x0 0x0 1 2; }
# NET_ADMIN (12), NET_RAW (13), SYS_ADMIN (21): docs/SECURITY.md
t_privnet() { check "$PRIVNET" 0 0x203000 0x203000 0x203000 1 2; }
# DAC_READ_SEARCH (2), SETGID (6), SETUID (7), SETPCAP (8), SYS_ADMIN (21):
# what it hands its layer builders (docs/SECURITY.md); the builders
# themselves are checked in tests/component/61-layer-builder.sh.
t_spawner() { check "$SPAWNER" 0 0x2001c4 0x2001c4 0x2001c4 1 2; }
t_vmmon() { check_sandbox "$VMMON" "$UID_A" && check_sandbox "$VMMON_B" "$UID_B"; }
t_qemu() {
	check_sandbox "$QEMU" "$UID_A" || return
	check_sandbox "$QEMU_B" "$UID_B"
}
# containerd exports LD_LIBRARY_PATH=/opt/containerd/lib: to shims; the empty
# entry makes ld.so search the current directory (the bundle, for a shim).
# No process of a sandbox loads libraries from a relative or empty entry.
t_ld_path() {
	local pid v e
	for pid in "$SHIM" "$PRIVNET" "$VMMON" "$SPAWNER" "$QEMU"; do
		[ -r "/proc/$pid/environ" ] || { fail "process $pid not found"; return 1; }
		v=$(tr '\0' '\n' <"/proc/$pid/environ" | sed -n 's/^LD_LIBRARY_PATH=//p')
		[ -n "$v" ] || continue
		case ":$v:" in *::*) fail "$(readlink "/proc/$pid/exe"): empty entry in LD_LIBRARY_PATH '$v'"; return 1 ;; esac
		IFS=: read -ra e <<<"$v"
		for v in "${e[@]}"; do
			case "$v" in /*) ;; *) fail "$(readlink "/proc/$pid/exe"): relative entry '$v' in LD_LIBRARY_PATH"; return 1 ;; esac
		done
	done
}
t_uids_differ() {
	[ "$UID_A" != "$UID_B" ] || fail "both sandboxes run as uid $UID_A" || return
	[ -s "$QB_STATE/uids/$UID_A" ] && [ -s "$QB_STATE/uids/$UID_B" ] ||
		fail "no uid records in $QB_STATE/uids: $(ls "$QB_STATE/uids")" || return
	grep -q "\"sandbox\":\"$A\"" "$QB_STATE/uids/$UID_A" || fail "record: $(cat "$QB_STATE/uids/$UID_A")"
}

# vmmon is PID 1 of a PID namespace of its own; its QEMU is in it; the two
# sandboxes' namespaces differ, and QEMU's /proc shows nothing else.
t_pidns() {
	local host na nb n
	host=$(readlink /proc/self/ns/pid)
	na=$(readlink "/proc/$VMMON/ns/pid")
	nb=$(readlink "/proc/$VMMON_B/ns/pid")
	[ "$na" != "$host" ] && [ "$nb" != "$host" ] || fail "vmmon in the host PID namespace ($host)" || return
	[ "$na" != "$nb" ] || fail "both sandboxes in $na" || return
	[ "$(readlink "/proc/$QEMU/ns/pid")" = "$na" ] || fail "QEMU not in its vmmon's namespace" || return
	[ "$(readlink "/proc/$QEMU_B/ns/pid")" = "$nb" ] || fail "QEMU B not in its vmmon's namespace" || return
	[ "$(st "$VMMON" NSpid | awk '{ print $NF }')" = 1 ] || fail "vmmon is not PID 1 inside: NSpid $(st "$VMMON" NSpid)" || return
	n=$(ls "/proc/$QEMU/root/proc" | grep -c '^[0-9]')
	[ "$n" -ge 1 ] && [ "$n" -le 3 ] || fail "QEMU's /proc lists $n processes: $(ls "/proc/$QEMU/root/proc" | grep '^[0-9]' | tr '\n' ' ')" || return
}

# The cgroup of pid $1 in the memory controller's hierarchy.
cg_of() { awk -F: '$2 == "memory" || ($1 == 0 && m == "") { if ($2 == "memory") m = $3; else z = $3 } END { print (m != "" ? m : z) }' "/proc/$1/cgroup"; }
ovh() { awk -v k="$1" '$1 == "#define" && $2 == k { print $3 }' lib/sandbox_cgroup.h; }
t_cgroups() {
	local cga cgb mem cpu want_mem want_cpu d p
	cga=$(cg_of "$QEMU"); cgb=$(cg_of "$QEMU_B")
	[ "$cga" = "$CG_A" ] || fail "QEMU A in cgroup '$cga', want $CG_A" || return
	[ "$cgb" = "$CG_B" ] || fail "QEMU B in cgroup '$cgb', want $CG_B" || return
	[ "$cga" != "$cgb" ] || fail "both sandboxes in $cga" || return
	[ "$(cg_of "$VMMON")" = "$cga" ] || fail "vmmon A in $(cg_of "$VMMON")" || return
	# the shim stays where containerd put it
	[ "$(cg_of "$SHIM")" != "$cga" ] || fail "the shim is in the sandbox cgroup" || return
	# Limits: the VM size (runtime defaults: 1 vCPU, 512 MiB) plus the
	# overhead lib/sandbox_cgroup.h states.
	want_mem=$(( (512 + $(ovh CG_MEM_OVERHEAD_MB)) * 1048576 ))
	want_cpu=$(( (100 + $(ovh CG_CPU_OVERHEAD_PCT)) * 1000 ))
	if [ -e /sys/fs/cgroup/memory/cgroup.procs ]; then # v1 controllers (hybrid)
		for p in "$QEMU" "$VMMON"; do
			for d in cpu pids; do
				grep -q ":$d:$cga\$" "/proc/$p/cgroup" || fail "pid $p not in $d:$cga: $(tr '\n' ' ' <"/proc/$p/cgroup")" || return
			done
			grep -q "^0::$cga\$" "/proc/$p/cgroup" || fail "pid $p not in the v2 hierarchy's $cga" || return
		done
		mem=$(cat "/sys/fs/cgroup/memory$cga/memory.limit_in_bytes")
		cpu=$(cat "/sys/fs/cgroup/cpu$cga/cpu.cfs_quota_us")/$(cat "/sys/fs/cgroup/cpu$cga/cpu.cfs_period_us")
		[ "$(cat "/sys/fs/cgroup/pids$cga/pids.max")" = "$(ovh CG_PIDS_MAX)" ] || fail "pids.max" || return
		echo "# measured: sandbox A memory peak $(( $(cat "/sys/fs/cgroup/memory$cga/memory.max_usage_in_bytes") / 1048576 )) MiB (guest 512 MiB), limit $((mem / 1048576)) MiB"
	else
		mem=$(cat "/sys/fs/cgroup$cga/memory.max")
		cpu=$(tr ' ' / <"/sys/fs/cgroup$cga/cpu.max")
		[ "$(cat "/sys/fs/cgroup$cga/pids.max")" = "$(ovh CG_PIDS_MAX)" ] || fail "pids.max" || return
		echo "# measured: sandbox A memory peak $(( $(cat "/sys/fs/cgroup$cga/memory.peak" 2>/dev/null || echo 0) / 1048576 )) MiB"
	fi
	[ "$mem" = "$want_mem" ] || fail "memory limit $mem, want $want_mem" || return
	[ "$cpu" = "$want_cpu/100000" ] || fail "cpu quota $cpu, want $want_cpu/100000" || return
}

# A helper running as sandbox A's uid (what a QEMU escape gets) cannot
# signal B's QEMU: EPERM from the host's PID namespace, ESRCH from A's.
t_no_signal() {
	local out
	kill -0 "$QEMU_B" || fail "control: root cannot signal $QEMU_B" || return
	out=$(setpriv --reuid="$UID_A" --regid="$UID_A" --clear-groups -- bash -c "kill -0 $QEMU_B" 2>&1) &&
		fail "uid $UID_A could signal B's QEMU (pid $QEMU_B)" && return
	echo "$out" | grep -q "Operation not permitted" || fail "kill as uid $UID_A: $out" || return
	out=$(nsenter -t "$VMMON" -p -- setpriv --reuid="$UID_A" --regid="$UID_A" --clear-groups -- bash -c "kill -0 $QEMU_B" 2>&1) &&
		fail "uid $UID_A in A's PID namespace could signal pid $QEMU_B" && return
	echo "$out" | grep -q "No such process" || fail "kill from A's namespace: $out" || return
}

# Each AppArmor profile names what its process holds: the capabilities
# marked "kept:" are exactly the live CapEff and CapBnd; every other
# capability it grants (used only while dropping) is gone from CapBnd.
aa_caps() { # profile kept|other
	awk -v want="$2" '
		/^  profile / { exit }
		/^[ \t]*capability [a-z_]+,/ {
			c = $2; sub(/,$/, "", c)
			k = ($0 ~ /# kept:/) ? "kept" : "other"
			if (k == want) print "cap_" c
		}' "apparmor/$1" | sort | tr '\n' ' '
}
live_caps() { # pid field
	capsh --decode="$(st "$1" "$2")" | sed 's/^[^=]*=//' | tr ',' '\n' | grep . | sort | tr '\n' ' '
}
t_apparmor_caps() {
	local prof pid f c
	for prof in qemubox-shim:$SHIM qemubox-privnet:$PRIVNET qemubox-vmmon:$VMMON qemubox-qemu:$QEMU; do
		pid=${prof#*:}; prof=${prof%%:*}
		for f in CapEff CapBnd; do
			[ "$(live_caps "$pid" $f)" = "$(aa_caps "$prof" kept)" ] ||
				fail "$prof: profile keeps '$(aa_caps "$prof" kept)', $f of pid $pid is '$(live_caps "$pid" $f)'" || return
		done
		for c in $(aa_caps "$prof" other); do
			case " $(live_caps "$pid" CapBnd)" in *" $c "*)
				fail "$prof: $c is marked drop-only but pid $pid still has it in CapBnd" || return ;;
			esac
		done
	done
}

# The shim (debug logging on) says which Landlock domain and seccomp mode it
# entered, or warns that the kernel has no Landlock (the documented
# degradation).
t_shim_landlock() {
	local log
	log=$(ctd_log | grep 'proc=shim' | grep -E 'landlock_restrict|shim_confine')
	if echo "$log" | grep -q 'the kernel has no Landlock'; then
		tap_skip "$(tap_host_cap landlock "the kernel has no Landlock; the shim warned and went on")"
	fi
	echo "$log" | grep -q 'landlock_restrict: enforced' || fail "no Landlock line: $log" || return
	echo "$log" | grep -q 'shim_confine: Landlock and seccomp (enforce) applied' ||
		fail "seccomp not in enforce mode: $log" || return
}

gone() { # pid [tenths]
	local i
	for i in $(seq 1 "${2:-100}"); do
		kill -0 "$1" 2>/dev/null || return 0
		sleep 0.1
	done
	return 1
}
cgroup_dirs() { # cgroup path: every hierarchy's directory that exists
	local m
	for m in /sys/fs/cgroup /sys/fs/cgroup/*; do
		[ -d "$m$1" ] && [ -e "$m/cgroup.procs" ] && echo "$m$1"
	done
}

# B's shim crashes while B's QEMU still runs (vmmon stopped, so it cannot
# end QEMU): B's uid stays taken, a new sandbox gets another one, and
# qemubox-cleanup keeps it; once QEMU is gone, cleanup frees the uid and the
# cgroup, and the next sandbox may have the uid. (Two tests: each boots a VM,
# slow on a loaded host.)
t_crash() {
	local uc out
	kill -STOP "$VMMON_B"
	kill -KILL "$SHIM_B"
	gone "$SHIM_B" || fail "shim B survived SIGKILL" || return
	kill -0 "$QEMU_B" || fail "B's QEMU died with its shim (the test needs it alive)" || return
	start "$C" || fail "sandbox C did not start" || return
	read -r _ _ vc _ < <(sandbox_pids "$C")
	uc=$(uid_of "$vc")
	[ "$uc" != "$UID_B" ] || fail "C got uid $uc of B, whose QEMU still runs" || return
	[ "$uc" != "$UID_A" ] || fail "C got A's uid $uc" || return
	out=$(QEMUBOX_CONFIG=$QEMUBOX_CONFIG "$QB_PREFIX/bin/qemubox-cleanup" 2>&1)
	echo "$out" | grep -q "kept uid $UID_B of $B: its shim (pid $SHIM_B) is gone, but [0-9]* process[es]* still runs* as uid $UID_B" ||
		fail "cleanup did not keep B's uid: $out" || return
	[ -e "$QB_STATE/uids/$UID_B" ] || fail "B's uid record removed while its QEMU runs" || return
	[ -n "$(cgroup_dirs "$CG_B")" ] || fail "B's cgroup removed while its QEMU runs" || return
}
t_crash_cleanup() {
	local ud out
	# vmmon (PID 1 of B's namespace) dies: the kernel ends its QEMU.
	kill -KILL "$VMMON_B"
	gone "$QEMU_B" || fail "B's QEMU outlived its vmmon" || return
	gone "$VMMON_B" || fail "B's vmmon survived SIGKILL" || return
	out=$(QEMUBOX_CONFIG=$QEMUBOX_CONFIG "$QB_PREFIX/bin/qemubox-cleanup" 2>&1)
	echo "$out" | grep -q "freed uid $UID_B of $B" || fail "cleanup did not free B's uid: $out" || return
	[ ! -e "$QB_STATE/uids/$UID_B" ] || fail "B's uid record left" || return
	[ -z "$(cgroup_dirs "$CG_B")" ] || fail "B's cgroup left: $(cgroup_dirs "$CG_B")" || return
	start "$D" || fail "sandbox D did not start" || return
	read -r _ _ vd _ < <(sandbox_pids "$D")
	ud=$(uid_of "$vd")
	[ "$ud" = "$UID_B" ] || fail "D got uid $ud, want the freed $UID_B (lowest free)" || return
}

# Sandbox $1 ended: its shim (pid $2) and every helper it started
# (privnet, vmmon, spawner, fsd; pids $3...) are gone, and so are its netns,
# uid record ($UID_OF), host cgroup ($CG_OF) and, runtime.keep_logs being
# false, its console log directory.
sandbox_ended() { # id shim-pid helper-pids...
	local id=$1 shim=$2 p
	shift 2
	gone "$shim" || fail "shim still running after delete" || return
	for p in "$@"; do
		[ "$p" = none ] && continue
		gone "$p" || fail "helper $p still running after delete: $(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null)" || return
	done
	[ -e "/run/netns/qemubox-$id" ] && fail "netns left" && return
	[ ! -e "$QB_STATE/uids/$UID_OF" ] || fail "uid record of $id left: $(cat "$QB_STATE/uids/$UID_OF")" || return
	[ -z "$(cgroup_dirs "$CG_OF")" ] || fail "cgroup of $id left: $(cgroup_dirs "$CG_OF")" || return
	[ ! -e "$QB_LOGS/$id" ] || fail "log dir $QB_LOGS/$id left: $(ls "$QB_LOGS/$id")" || return
	return 0
}

# Task $1 is STOPPED within 30 s and the shim reported its exit as 137.
exited_137() {
	local i st
	for i in $(seq 1 300); do
		st=$(ctd_ctr task ls 2>/dev/null | awk -v id="$1" '$1 == id { print $3 }')
		[ "$st" = STOPPED ] && break
		sleep 0.1
	done
	[ "$st" = STOPPED ] || fail "task $1 is '$st' after QEMU died" || return
	ctd_log | grep "proc=shim" | grep -q "container=$1 id=$1 pid=[0-9]* exit=137" ||
		fail "no /tasks/exit with 137 for $1"
}

# Starts sandbox $1 and sets SHIM_OF PRIVNET_OF VMMON_OF QEMU_OF SPAWNER_OF
# FSD_OF UID_OF CG_OF.
start_sandbox() {
	start "$1" || fail "sandbox $1 did not start" || return
	read -r SHIM_OF PRIVNET_OF VMMON_OF QEMU_OF < <(sandbox_pids "$1")
	SPAWNER_OF=$(pid_by_exe "$QB_PREFIX/libexec/qemubox/qemubox-spawner" "$SHIM_OF") || SPAWNER_OF=none
	FSD_OF=$(pid_by_exe "$QB_PREFIX/libexec/qemubox/qemubox-fsd" "$SHIM_OF") || FSD_OF=none
	UID_OF=$(uid_of "$VMMON_OF")
	CG_OF=$(want_cg "$SHIM_OF" "$1")
	[ "$QEMU_OF" != none ] || fail "no QEMU for $1" || return
}

# Last: the VM dies under the shim (QEMU SIGKILLed, as after a guest that
# broke the channel): the confined shim reports the container exited with
# 137, then still serves Delete and leaves with its helpers, and gives back
# the sandbox's uid, cgroup and log directory.
t_vm_dies() {
	[ -n "$QEMU" ] || { fail "QEMU not found"; return; }
	kill -KILL "$QEMU"
	exited_137 "$A" || return
	ctd_ctr task delete "$A" >/dev/null 2>&1 || fail "task delete failed after the VM died" || return
	ctd_ctr containers delete "$A" >/dev/null 2>&1
	UID_OF=$UID_A CG_OF=$CG_A sandbox_ended "$A" "$SHIM" "$PRIVNET" "$VMMON" "$SPAWNER"
}

# The VM dies while containerd's Delete is with the guest (QEMU stopped,
# so the guest cannot answer; then SIGKILLed): the Delete succeeds (the
# process went with the VM) and the sandbox ends as above. Before, the
# pending call failed with "closed by the guest" before the shim saw the VM
# die, Delete failed, every retry got "not found", and nothing ever ended.
# Since 1a6d17c a plain sandbox's Delete is answered without waiting for
# the guest's part (which still runs: "the guest deletes it as the VM
# goes"), so either line shows the Delete reached the guest.
t_vm_dies_in_delete() {
	local off del rc i
	start_sandbox "$E" || return
	ctd_ctr task kill -s SIGKILL "$E" >/dev/null 2>&1 || fail "task kill" || return
	qb_wait_status "$E" STOPPED 60 || fail "task not STOPPED after SIGKILL" || return
	off=$(stat -c %s "$CTD_DIR/containerd.log")
	kill -STOP "$QEMU_OF"
	ctd_ctr task delete "$E" >"$QB_DIR/del-$E.out" 2>&1 &
	del=$!
	# The shim logs (debug) when it forwards the Delete to the guest.
	for i in $(seq 1 300); do
		tail -c +"$((off + 1))" "$CTD_DIR/containerd.log" |
			grep -q -F -e "vmb_delete: $E/: asking the guest" -e "vmb_delete: $E: the guest deletes it as the VM goes" && break
		sleep 0.1
	done
	[ "$i" -lt 300 ] || { kill -KILL "$QEMU_OF"; wait $del; fail "the Delete never reached the guest"; return; }
	kill -KILL "$QEMU_OF"
	wait $del
	rc=$?
	[ $rc = 0 ] || fail "task delete failed when the VM died under it: $(cat "$QB_DIR/del-$E.out")" || return
	ctd_ctr containers delete "$E" >/dev/null 2>&1
	sandbox_ended "$E" "$SHIM_OF" "$PRIVNET_OF" "$VMMON_OF" "$SPAWNER_OF" "$FSD_OF"
}

# The sandbox's own host cgroup OOM-kills QEMU (its memory limit lowered
# to what it uses now + 16 MiB, then the container writes 256 MiB into its
# tmpfs root): the container exits 137, Delete succeeds, the sandbox ends.
t_vm_oom() {
	local d lim use ev ooms exe rc
	start_sandbox "$F" || return
	if [ -e /sys/fs/cgroup/memory/cgroup.procs ]; then # v1 controllers (hybrid)
		d=/sys/fs/cgroup/memory$CG_OF lim=memory.limit_in_bytes use=memory.usage_in_bytes ev=memory.oom_control
	else
		d=/sys/fs/cgroup$CG_OF lim=memory.max use=memory.current ev=memory.events
	fi
	[ -w "$d/$lim" ] || fail "no $d/$lim" || return
	echo $(( $(cat "$d/$use") + (16 << 20) )) >"$d/$lim" || fail "cannot lower $d/$lim" || return
	echo "# $F: QEMU uses $(( $(cat "$d/$use") >> 20 )) MiB, limit now $(( $(cat "$d/$lim") >> 20 )) MiB"
	timeout 120 ctr --address "$CTD_SOCK" --namespace "$CTD_NS" task exec --exec-id fill "$F" \
		dd if=/dev/zero of=/fill bs=1M count=256 >"$QB_DIR/fill-$F.out" 2>&1
	exe=$?
	ooms=$(awk '$1 == "oom_kill" { print $2 }' "$d/$ev" 2>/dev/null)
	echo "# exec status $exe, oom_kill ${ooms:-?}: $(tail -1 "$QB_DIR/fill-$F.out")"
	[ "${ooms:-0}" -ge 1 ] || fail "no OOM kill in $d ($(tr '\n' ' ' <"$d/$ev"))" || return
	! kill -0 "$QEMU_OF" 2>/dev/null || fail "QEMU survived its cgroup's OOM" || return
	exited_137 "$F" || return
	ctd_ctr task delete "$F" >"$QB_DIR/del-$F.out" 2>&1
	rc=$?
	[ $rc = 0 ] || fail "task delete failed after the OOM kill: $(cat "$QB_DIR/del-$F.out")" || return
	ctd_ctr containers delete "$F" >/dev/null 2>&1
	sandbox_ended "$F" "$SHIM_OF" "$PRIVNET_OF" "$VMMON_OF" "$SPAWNER_OF" "$FSD_OF"
}

tap_run "shim: uid 0, no capabilities in any set, NoNewPrivs, seccomp filter" t_shim
tap_run "privnet: uid 0, exactly NET_ADMIN+NET_RAW+SYS_ADMIN, NoNewPrivs, seccomp filter" t_privnet
tap_run "spawner: uid 0, exactly DAC_READ_SEARCH+SETGID+SETUID+SETPCAP+SYS_ADMIN, NoNewPrivs, seccomp filter" t_spawner
tap_run "vmmon (both sandboxes): own uid+gid from the range, kvm group, no capabilities, NoNewPrivs, seccomp" t_vmmon
tap_run "QEMU (both sandboxes): its vmmon's uid+gid, no capabilities, NoNewPrivs, seccomp" t_qemu
tap_run "shim, privnet, vmmon, spawner, QEMU: no empty or relative LD_LIBRARY_PATH entry (containerd passes the cwd one)" t_ld_path
tap_run "two sandboxes: different uids, each recorded" t_uids_differ
tap_run "PID namespaces: vmmon is PID 1 of its own, QEMU inside it, not the host's, not shared" t_pidns
tap_run "host cgroups: one per sandbox, memory + CPU (+ pids) limits from the VM size + overhead" t_cgroups
tap_run "sandbox A's uid cannot signal B's QEMU (EPERM; ESRCH from A's namespace)" t_no_signal
tap_run "AppArmor profiles: the kept capabilities are exactly CapEff/CapBnd of shim, privnet, vmmon, QEMU" t_apparmor_caps
tap_run "shim: Landlock applied (or the documented warning)" t_shim_landlock
tap_run "shim crash: its uid is not handed out while its QEMU lives; qemubox-cleanup keeps it" t_crash
tap_run "shim crash: once QEMU is gone, qemubox-cleanup frees uid + cgroup; the next sandbox gets the uid" t_crash_cleanup
tap_run "VM killed: container exits 137, confined shim serves Delete, leaves, frees uid + cgroup" t_vm_dies
tap_run "VM killed while Delete waits for the guest: Delete succeeds, everything ends" t_vm_dies_in_delete
tap_run "QEMU OOM-killed by its sandbox cgroup: 137, Delete succeeds, everything ends" t_vm_oom
tap_done
