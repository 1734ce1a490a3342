#!/usr/bin/env bash
# Confinement of a live sandbox against docs/SECURITY.md's table: start one
# container through a private containerd, find the shim, privnet, vmmon and
# QEMU of that sandbox, and read /proc/<pid>/status of each (Uid, CapEff,
# CapPrm, CapBnd, NoNewPrivs, Seccomp). Then: the shim's Landlock really
# fences it (it cannot be asked to write outside, so we check the domain from
# its debug log).
set -u
cd "$(dirname "$0")/../.."
. tests/lib/tap.sh
. tests/lib/containerd.sh
. tests/lib/qemubox.sh

ID=conf-$$
cleanup() {
	if [ -n "${CTD_SOCK:-}" ]; then
		ctd_ctr task kill -s SIGKILL "$ID" >/dev/null 2>&1
		sleep 1
		ctd_ctr task delete "$ID" >/dev/null 2>&1
		ctd_ctr containers delete "$ID" >/dev/null 2>&1
	fi
	ctd_stop
	qb_teardown
}
trap cleanup EXIT

[ "$(id -u)" = 0 ] || tap_skip_all 1 1 confinement "needs root"
QB_DEBUG=true
if ! qb_setup; then
	echo "not ok 1 - scratch install (make install failed)"
	exit 1
fi
ctd_start || tap_skip_all 1 1 confinement "$CTD_SKIP"
ctd_import_busybox || tap_skip_all 1 1 confinement "busybox image could not be imported"
if ! ctd_ctr run -d --runtime "$QB_RUNTIME" "$CTD_IMAGE" "$ID" sleep 100000 >"$QB_DIR/run.out" 2>&1; then
	tap_skip_all 1 1 confinement "the sandbox cannot start here: $(tail -2 "$QB_DIR/run.out" | tr '\n' ' ')"
fi
for i in $(seq 1 600); do
	ctd_ctr task ls 2>/dev/null | awk -v id="$ID" '$1 == id && $3 == "RUNNING" { f = 1 } END { exit !f }' && break
	sleep 0.1
done

# The processes of this sandbox: the shim whose cwd is its bundle, its
# children privnet and vmmon, and QEMU named after the sandbox.
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
SHIM=
for p in /proc/[0-9]*; do
	[ "$(readlink "$p/exe" 2>/dev/null)" = "$QB_PREFIX/bin/containerd-shim-qemubox-v1" ] || continue
	case "$(readlink "$p/cwd" 2>/dev/null)" in */"$ID") SHIM=${p#/proc/}; break ;; esac
done
PRIVNET=$(pid_by_exe "$QB_PREFIX/libexec/qemubox/qemubox-privnet" "$SHIM")
VMMON=$(pid_by_exe "$QB_PREFIX/libexec/qemubox/qemubox-vmmon" "$SHIM")
SPAWNER=$(pid_by_exe "$QB_PREFIX/libexec/qemubox/qemubox-spawner" "$SHIM")
QEMU=$(grep -l -a -F -e "qemubox-$ID" /proc/[0-9]*/cmdline 2>/dev/null |
	while read -r f; do p=${f#/proc/}; p=${p%/cmdline}
		case "$(tr '\0' ' ' <"$f" 2>/dev/null)" in qemu-system-*|*/qemu-system-*) echo "$p"; break ;; esac
	done)
VMMON_UID=$(id -u qemubox 2>/dev/null || echo none)

# field NAME of /proc/PID/status
st() { awk -v k="$2:" '$1 == k { $1 = ""; sub(/^ /, ""); print; exit }' "/proc/$1/status"; }
cap() { printf '0x%x' "$((16#$(st "$1" "$2")))"; }

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

t_shim() { check "$SHIM" 0 0x0 0x0 0x0 1 2; }
# NET_ADMIN (12), NET_RAW (13), SYS_ADMIN (21): docs/SECURITY.md
t_privnet() { check "$PRIVNET" 0 0x203000 0x203000 0x203000 1 2; }
# DAC_READ_SEARCH (2), SETGID (6), SETUID (7), SETPCAP (8), SYS_ADMIN (21):
# what it hands its layer builders (docs/SECURITY.md); the builders
# themselves are checked in tests/component/61-layer-builder.sh.
t_spawner() { check "$SPAWNER" 0 0x2001c4 0x2001c4 0x2001c4 1 2; }
t_vmmon() {
	[ "$VMMON_UID" != none ] || tap_skip "no qemubox user (scripts/setup-host)"
	[ "$VMMON_UID" != 0 ] || fail "the qemubox user is uid 0" || return
	check "$VMMON" "$VMMON_UID" 0x0 0x0 0x0 1 2
}
t_qemu() {
	[ "$VMMON_UID" != none ] || tap_skip "no qemubox user (scripts/setup-host)"
	check "$QEMU" "$VMMON_UID" 0x0 0x0 0x0 1 2
}
# The shim (debug logging on) says which Landlock domain and seccomp mode it
# entered, or warns that the kernel has no Landlock (the documented
# degradation).
t_shim_landlock() {
	local log
	log=$(ctd_log | grep 'proc=shim' | grep -E 'landlock_restrict|shim_confine')
	if echo "$log" | grep -q 'the kernel has no Landlock'; then
		tap_skip "$(tap_host_cap landlock "the kernel has none: the shim warned and went on")"
	fi
	echo "$log" | grep -q 'landlock_restrict: enforced' || fail "no Landlock line: $log" || return
	echo "$log" | grep -q 'shim_confine: Landlock and seccomp (enforce) applied' ||
		fail "seccomp not in enforce mode: $log" || return
}

# Last: the VM dies under the shim (QEMU SIGKILLed, as after a guest that
# broke the channel): the confined shim reports the container exited with
# 137, then still serves Delete and leaves with its helpers.
t_vm_dies() {
	local i st
	[ -n "$QEMU" ] || { fail "QEMU not found"; return; }
	kill -KILL "$QEMU"
	for i in $(seq 1 300); do
		st=$(ctd_ctr task ls 2>/dev/null | awk -v id="$ID" '$1 == id { print $3 }')
		[ "$st" = STOPPED ] && break
		sleep 0.1
	done
	[ "$st" = STOPPED ] || fail "task is '$st' after QEMU died" || return
	ctd_log | grep "proc=shim" | grep -q "container=$ID id=$ID pid=[0-9]* exit=137" ||
		fail "no /tasks/exit with 137 for $ID" || return
	ctd_ctr task delete "$ID" >/dev/null 2>&1 || fail "task delete failed after the VM died" || return
	ctd_ctr containers delete "$ID" >/dev/null 2>&1
	for i in $(seq 1 100); do
		kill -0 "$SHIM" 2>/dev/null || kill -0 "$VMMON" 2>/dev/null || kill -0 "$PRIVNET" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$SHIM" 2>/dev/null && fail "shim still running after delete" && return
	[ -e "/run/netns/qemubox-$ID" ] && fail "netns left" && return
	return 0
}

tap_run "shim: uid 0, no capabilities in any set, NoNewPrivs, seccomp filter" t_shim
tap_run "privnet: uid 0, exactly NET_ADMIN+NET_RAW+SYS_ADMIN, NoNewPrivs, seccomp filter" t_privnet
tap_run "spawner: uid 0, exactly DAC_READ_SEARCH+SETGID+SETUID+SETPCAP+SYS_ADMIN, NoNewPrivs, seccomp filter" t_spawner
tap_run "vmmon: qemubox user, no capabilities, NoNewPrivs, seccomp filter" t_vmmon
tap_run "QEMU: qemubox user, no capabilities, NoNewPrivs, seccomp filter" t_qemu
tap_run "shim: Landlock applied (or the documented warning)" t_shim_landlock
tap_run "VM killed: container exits 137, confined shim serves Delete and leaves" t_vm_dies
tap_done
