#!/usr/bin/env bash
# Crash recovery of network resources, end to end: a container's shim and
# QEMU are SIGKILLed (alone, and together with containerd, as when the host
# restarts containerd mid-life), then a container with the SAME id must run
# again; and qemubox-cleanup must find what a crash left (netns with a dead
# owner, netns with no record at all) and release it: no netns, no TAP, no
# host-local IPAM reservation.
#
# The suite runs in a private mount namespace with its own /run/netns
# (containerd, the shims and privnet are started inside it), so
# `qemubox-cleanup` without an id judges only this run's sandboxes, never a
# sandbox of another test on the machine, and nothing can outlive the run.
set -u
SELF=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
cd "$(dirname "$0")/../.."
if [ -z "${QB_CRASH_TEST_NS:-}" ]; then
	if [ "$(id -u)" != 0 ] || ! unshare -m --propagation private true 2>/dev/null; then
		. tests/lib/tap.sh
		tap_skip_all 1 1 "crash recovery suite" "needs root and a private mount namespace (unshare -m)"
	fi
	exec env QB_CRASH_TEST_NS=1 unshare -m --propagation private "$SELF" "$@"
fi
. tests/lib/tap.sh
. tests/lib/containerd.sh
. tests/lib/qemubox.sh

T0=$(date +%s)
cleanup() { ctd_stop; qb_teardown; }
on_exit cleanup

if ! mkdir -p /run/netns || ! mount -t tmpfs -o mode=0755 qbcrash /run/netns; then
	tap_skip_all 1 1 "crash recovery suite" "cannot mount a private /run/netns"
fi
qb_suite_start "crash recovery suite"
CLEANUP=$QB_PREFIX/bin/qemubox-cleanup
IPAM=$QB_DIR/var/lib/cni/networks/qemubox-net

# --- helpers -----------------------------------------------------------------

# The shim daemon serving container $1 (our binary, cwd its bundle), and
# every process below it (privnet, vmmon, QEMU).
shim_of() {
	local p
	for p in /proc/[0-9]*; do
		[ "$(readlink "$p/exe" 2>/dev/null)" = "$QB_PREFIX/bin/containerd-shim-qemubox-v1" ] || continue
		case "$(readlink "$p/cwd" 2>/dev/null)" in */"$1") echo "${p#/proc/}" ;; esac
	done
}
descendants() {
	local p c
	for p in "$@"; do
		echo "$p"
		for c in $(grep -l "^[0-9]* ([^)]*) . $p " /proc/[0-9]*/stat 2>/dev/null | cut -d/ -f3); do
			descendants "$c"
		done
	done
}
qemu_among() {
	local p
	for p in "$@"; do
		case "$(readlink "/proc/$p/exe" 2>/dev/null)" in */qemu-system-*) echo "$p" ;; esac
	done
}
wait_gone() { # pids...
	local i p alive
	for i in $(seq 1 100); do
		alive=
		for p in "$@"; do kill -0 "$p" 2>/dev/null && alive="$alive $p"; done
		[ -z "$alive" ] && return 0
		sleep 0.1
	done
	fail "still running after 10 s:$alive"
}
# The address container $1 got, from the host-local reservation files.
ipam_addr_of() {
	grep -lx -e "$1" -e "$1"$'\r' "$IPAM"/* 2>/dev/null | head -n1 | xargs -r basename
}
ipam_left() {
	ls "$IPAM" 2>/dev/null | grep -Ev '^(last_reserved_ip.*|lock)$'
}
tap_links_left() { # on the host: a TAP must never escape its netns
	ip -o link show type tun 2>/dev/null | grep -c qbtap
}
assert_clean() { # ids...
	local id left
	# A shim tears its sandbox down after ctr returns: wait for it to end.
	left=$(qb_procs_left)
	[ -z "$left" ] || fail "processes left:$left" || return
	for id in "$@"; do
		[ ! -e "/run/netns/qemubox-$id" ] || fail "netns qemubox-$id left" || return
	done
	left=$(ipam_left)
	[ -z "$left" ] || fail "IPAM reservations left: $left" || return
	[ "$(tap_links_left)" = 0 ] || fail "a qbtap link on the host" || return
	left=$(ls /run/netns)
	[ -z "$left" ] || fail "netns left: $left"
}

# Tests run in a subshell (tap_run): a containerd they restart is recorded
# here so the suite's ctd_stop stops that one.
relaunch_containerd() {
	ctd_launch || return 1
	echo "$CTD_PID" >"$QB_DIR/ctd.pid"
}
adopt_containerd() {
	[ -s "$QB_DIR/ctd.pid" ] && CTD_PID=$(cat "$QB_DIR/ctd.pid")
	return 0
}

# SIGKILL the shim of container $1 and its QEMU; wait for the helpers
# (privnet, vmmon exit when the shim's end closes).
kill_shim_and_qemu() {
	local shim all q
	shim=$(shim_of "$1")
	[ -n "$shim" ] || fail "no shim serving $1" || return
	all=$(descendants $shim)
	q=$(qemu_among $all)
	[ -n "$q" ] || fail "no QEMU under shim $shim" || return
	echo "# killing shim $shim and QEMU $q (tree: $(echo $all))" >&2
	kill -KILL $shim $q
	wait_gone $all
}

# --- tests -------------------------------------------------------------------

# The reported bug: SIGKILL the shim + its QEMU while the container runs,
# then `ctr run` the same id again.
t_same_id_after_shim_kill() {
	local pid rc out
	qb_run "$IMG" t-crash sleep 100000 >/dev/null 2>&1 &
	pid=$!
	qb_wait_status t-crash RUNNING 90 || { kill $pid; return 1; }
	ipam_addr_of t-crash | grep -q . || fail "no IPAM reservation while running" || return
	kill_shim_and_qemu t-crash || { kill $pid; return 1; }
	# containerd sees the shim's connection close and ends the task.
	for _ in $(seq 1 600); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done
	kill $pid 2>/dev/null && echo "# ctr run still waiting 60 s after the kill" >&2
	wait $pid
	rc=$?
	echo "# first ctr run ended with status $rc" >&2
	ctd_ctr containers delete t-crash >/dev/null 2>&1
	out=$(qb_run "$IMG" t-crash echo back after a crash 2>&1) || fail "second ctr run failed: $out" || return
	[ "$out" = "back after a crash" ] || fail "output: '$out'" || return
	assert_clean t-crash
}

# containerd goes down too, and comes back without the task (its state was
# lost with the restart): nobody ran `delete`, the netns, TAP-less veth, IP
# and record of a dead shim remain. NET_SETUP of the same id reclaims them.
t_same_id_after_containerd_restart() {
	local bundle addr out
	ctd_ctr run -d --runtime "$QB_RUNTIME" "$IMG" t-reboot sleep 100000 >/dev/null ||
		fail "run -d failed" || return
	qb_wait_status t-reboot RUNNING 90 || return
	addr=$(ipam_addr_of t-reboot)
	[ -n "$addr" ] || fail "no IPAM reservation while running" || return
	ctd_kill
	kill_shim_and_qemu t-reboot || return
	bundle=$CTD_DIR/state/io.containerd.runtime.v2.task/$CTD_NS/t-reboot
	umount -l "$bundle/rootfs" 2>/dev/null
	rm -rf "$bundle"
	relaunch_containerd || fail "containerd did not restart" || return
	[ -e /run/netns/qemubox-t-reboot ] || fail "precondition: the crash left no netns" || return
	[ "$(ipam_addr_of t-reboot)" = "$addr" ] || fail "precondition: the crash left no IPAM reservation" || return
	ctd_ctr containers delete t-reboot >/dev/null 2>&1
	out=$(qb_run "$IMG" t-reboot echo reclaimed 2>&1) || fail "second ctr run failed: $out" || return
	[ "$out" = "reclaimed" ] || fail "output: '$out'" || return
	grep -rqs "reclaiming a stale network" "$QB_LOGS" "$CTD_DIR/containerd.log" ||
		fail "privnet did not log the reclaim" || return
	assert_clean t-reboot
}

# The same crash, then qemubox-cleanup instead of a new container: first with
# the record of the dead shim, then with no record at all (state dir wiped).
t_cleanup_tool() {
	local id bundle st run addr1 addr2
	for id in t-orph1 t-orph2; do
		ctd_ctr run -d --runtime "$QB_RUNTIME" "$IMG" "$id" sleep 100000 >/dev/null ||
			fail "run -d $id failed" || return
		qb_wait_status "$id" RUNNING 90 || return
	done
	addr1=$(ipam_addr_of t-orph1) addr2=$(ipam_addr_of t-orph2)
	[ -n "$addr1" ] && [ -n "$addr2" ] || fail "no IPAM reservations" || return
	ctd_kill
	kill_shim_and_qemu t-orph1 || return
	kill_shim_and_qemu t-orph2 || return
	for id in t-orph1 t-orph2; do
		bundle=$CTD_DIR/state/io.containerd.runtime.v2.task/$CTD_NS/$id
		umount -l "$bundle/rootfs" 2>/dev/null
		rm -rf "$bundle"
	done
	relaunch_containerd || fail "containerd did not restart" || return
	[ -e /run/netns/qemubox-t-orph1 ] && [ -e /run/netns/qemubox-t-orph2 ] ||
		fail "precondition: the crash left no netns" || return

	st=$("$CLEANUP" --status 2>&1)
	echo "$st" | sed 's/^/# /' >&2
	echo "$st" | grep "^t-orph1 " | grep -q "$addr1/.*shim pid [0-9]* gone" ||
		fail "--status does not show t-orph1 ($addr1) with its shim gone" || return
	run=$("$CLEANUP" t-orph1 2>&1) || fail "cleanup t-orph1: $run" || return
	echo "$run" | sed 's/^/# /' >&2
	[ ! -e /run/netns/qemubox-t-orph1 ] || fail "netns of t-orph1 left" || return
	[ ! -e "$IPAM/$addr1" ] || fail "IPAM reservation $addr1 of t-orph1 left" || return

	# The state dir is wiped: t-orph2's netns has no record any more.
	rm -f "$QB_STATE"/cni-config.db "$QB_STATE"/cni-config.db-lock
	st=$("$CLEANUP" --status 2>&1)
	echo "$st" | sed 's/^/# /' >&2
	echo "$st" | grep -q "^t-orph2 .*orphan netns.*(stale: no record, no TAP, nobody in the netns)" ||
		fail "--status does not show t-orph2 as a stale orphan netns" || return
	run=$("$CLEANUP" 2>&1) || fail "cleanup: $run" || return
	echo "$run" | sed 's/^/# /' >&2
	echo "$run" | grep -q "^removed netns /run/netns/qemubox-t-orph2 (no record" ||
		fail "cleanup did not report removing t-orph2's netns" || return
	[ ! -e "$IPAM/$addr2" ] || fail "IPAM reservation $addr2 of t-orph2 left" || return
	for id in t-orph1 t-orph2; do ctd_ctr containers delete "$id" >/dev/null 2>&1; done
	run=$("$CLEANUP" 2>&1)
	echo "$run" | grep -q "nothing to clean up" || fail "second cleanup: $run" || return
	assert_clean t-orph1 t-orph2
}

tap_run "SIGKILLed shim + QEMU: ctr run of the same id works again" t_same_id_after_shim_kill
tap_run "shim + QEMU + containerd killed, task state lost: same id reclaims the stale network" \
	t_same_id_after_containerd_restart
adopt_containerd
tap_run "qemubox-cleanup releases a dead shim's network and a netns with no record" t_cleanup_tool
adopt_containerd
echo "# crash recovery wall time: $(( $(date +%s) - T0 ))s"
tap_done
