#!/usr/bin/env bash
# A fully compromised guest, through the real stack: a private containerd
# runs the real shim, privnet, vmmon and QEMU (TCG) with the real kernel and
# modules, but the guest's PID 1 is tests/hostile/hostile_init.c, which
# attacks the host over the guest channel instead of serving it. The initrd
# is build/hostile/hostile-initrd plus one more cpio archive holding
# /hostile.mode, installed as the only initrd of a share dir the test's
# config.json points at (paths.share_dir).
#
# For every attack: `ctr run` fails, or the task ends, with a clear error in
# bounded time; the shim does not crash (it logs its clean exit, nothing
# like a sanitizer report, panic or segfault appears); the VM is killed; and
# nothing is left: no QEMU, no shim or helper, no netns, no IPAM
# reservation, no state dir entry. During the floods the shim's RSS is
# sampled from /proc and must stay bounded.
set -u
cd "$(dirname "$0")/../.."
. tests/lib/tap.sh
. tests/lib/containerd.sh
. tests/lib/qemubox.sh

HOSTILE_INITRD=$PWD/${BUILD:-build}/hostile/hostile-initrd
FLOOD_SECS=${HOSTILE_FLOOD_SECS:-15}
# The shim's RSS may grow by at most this much during a flood (KiB).
RSS_SLACK_KB=${HOSTILE_RSS_SLACK_KB:-32768}
T0=$(date +%s)
# HOSTILE_KEEP=DIR keeps containerd's log and the consoles there (debugging).
cleanup() {
	if [ -n "${HOSTILE_KEEP:-}" ] && [ -n "$CTD_DIR" ]; then
		mkdir -p "$HOSTILE_KEEP"
		cp "$CTD_DIR/containerd.log" "$HOSTILE_KEEP/" 2>/dev/null
		cp -r "$QB_LOGS" "$HOSTILE_KEEP/qemubox-logs" 2>/dev/null
	fi
	ctd_stop
	qb_teardown
}
on_exit cleanup

[ -r "$HOSTILE_INITRD" ] ||
	tap_skip_all 1 1 "hostile guest suite" "$HOSTILE_INITRD not built (run make)"
command -v cpio >/dev/null || tap_skip_all 1 1 "hostile guest suite" "cpio not installed"
qb_suite_start "hostile guest suite"
HSHARE=$QB_DIR/hostile-share
mkdir -p "$WORK" "$HSHARE/kernel"
chmod 0755 "$HSHARE" "$HSHARE/kernel"
ln "$QB_SHARE/kernel/qemubox-kernel-x86_64" "$HSHARE/kernel/" 2>/dev/null ||
	cp "$QB_SHARE/kernel/qemubox-kernel-x86_64" "$HSHARE/kernel/"
sed -i "s|\"share_dir\": \"$QB_SHARE\"|\"share_dir\": \"$HSHARE\"|" "$QEMUBOX_CONFIG"
grep -q "\"share_dir\": \"$HSHARE\"" "$QEMUBOX_CONFIG" ||
	{ echo "not ok 1 - point paths.share_dir at the hostile initrd"; exit 1; }
# Ids unique to this run: other suites may run VMs on this machine too.
P=hg$$
# Figures the tests measured, printed at the end as TAP comments.
FIG=$WORK/figures
: >"$FIG"

# --- helpers -----------------------------------------------------------------

# The initrd the next VM boots: the hostile one, told to behave as $1 ($2 =
# flood seconds).
hostile_mode() {
	local stage
	stage=$(mktemp -d "$WORK/mode.XXXXXX")
	printf '%s %s\n' "$1" "${2:-$FLOOD_SECS}" >"$stage/hostile.mode"
	{ cat "$HOSTILE_INITRD" &&
	  (cd "$stage" && echo hostile.mode | cpio -o -H newc -R 0:0 --quiet); } \
		>"$HSHARE/kernel/qemubox-initrd.tmp" || return 1
	mv "$HSHARE/kernel/qemubox-initrd.tmp" "$HSHARE/kernel/qemubox-initrd"
	rm -rf "$stage"
}

# Byte offset of containerd's log now; log_since OFF prints what came after.
log_mark() { stat -c %s "$CTD_DIR/containerd.log" 2>/dev/null || echo 0; }
log_since() { tail -c +"$(( $1 + 1 ))" "$CTD_DIR/containerd.log" 2>/dev/null; }

# The shim daemon serving this containerd (one sandbox at a time here).
shim_pid() {
	local p
	for p in $(ctd_shim_pids); do
		case "$(readlink "/proc/$p/exe" 2>/dev/null)" in
		*/containerd-shim-qemubox-v1) echo "$p"; return 0 ;;
		esac
	done
	return 1
}

# Wait up to $2 s for a shim and print its pid.
wait_shim() {
	local i p
	for i in $(seq 1 $(( ${2:-60} * 10 ))); do
		p=$(shim_pid) && { echo "$p"; return 0; }
		sleep 0.1
	done
	return 1
}

is_running() {
	ctd_ctr task ls 2>/dev/null | awk -v id="$1" '$1 == id && $3 == "RUNNING" { f = 1 } END { exit !f }'
}

# Wait up to $2 s for task $1 to be RUNNING.
wait_running() {
	local i
	for i in $(seq 1 $(( $2 * 10 ))); do
		is_running "$1" && return 0
		sleep 0.1
	done
	return 1
}

rss_kb() { awk '$1 == "VmRSS:" { print $2 }' "/proc/$1/status" 2>/dev/null; }

# Sample the RSS of pid $1 every 0.5 s into file $2 until it exits or $3
# exists.
rss_sampler() {
	local r
	while [ ! -e "$3" ]; do
		r=$(rss_kb "$1") || break
		[ -n "$r" ] || break
		echo "$r" >>"$2"
		sleep 0.5
	done
}

# The QEMU of sandbox $1, if any (QEMU gets -name qemubox-<id>).
qemu_of() {
	local f p
	for f in $(grep -a -l -F -e "qemubox-$1" /proc/[0-9]*/cmdline 2>/dev/null); do
		p=${f#/proc/}
		p=${p%/cmdline}
		case "$(readlink "/proc/$p/exe" 2>/dev/null)" in
		*qemu-system*) echo "$p" ;;
		esac
	done
}

# No crash since log offset $1: the shim that served container $2 was up
# until containerd's Shutdown, the kernel saw no fault of that pid, and
# nothing in the log reads like a sanitizer report or a panic.
assert_no_crash() {
	local log bad spid i
	for i in $(seq 1 150); do
		shim_pid >/dev/null || break
		sleep 0.2
	done
	log=$(log_since "$1")
	spid=$(echo "$log" | sed -n "s/.*shim_daemon: namespace=[^ ]* id=$2 .*pid=\([0-9]*\).*/\1/p" | head -1)
	[ -n "$spid" ] || fail "no shim start logged for $2" || return
	if [ -n "${DMESG0:-}" ]; then
		bad=$(dmesg 2>/dev/null | tail -n +"$DMESG0" | grep -F "[$spid]" | grep -E -i 'segfault|trap|general protection' | head -3)
		[ -z "$bad" ] || fail "the shim (pid $spid) crashed: $bad" || return
	fi
	bad=$(echo "$log" | grep -E -i 'AddressSanitizer|runtime error:|SIGSEGV|SIGABRT|core dumped|panic:|stack smashing|double free' | head -3)
	[ -z "$bad" ] || fail "crash signs in containerd's log: $bad" || return
	# The shim's own last words do not reach containerd's log (it stops
	# copying the log FIFO at the disconnect), so: it was still up to
	# take containerd's Shutdown.
	echo "$log" | grep -q "h_shutdown: id=$2 " ||
		fail "the shim of $2 (pid $spid) went away before containerd's Shutdown"
}

# Nothing of sandbox $1 remains: its QEMU, processes started from our prefix
# (shim, privnet, vmmon), its netns, IPAM reservations, state entries.
assert_clean() {
	local i p left
	for i in $(seq 1 100); do
		left=$(qb_prefix_procs)
		p=$(qemu_of "$1")
		[ -n "$p" ] && left="$left qemu:$p"
		[ -z "$left" ] && break
		sleep 0.2
	done
	[ -z "$left" ] || fail "processes left:$left" || return
	[ ! -e "/run/netns/qemubox-$1" ] || fail "netns qemubox-$1 left" || return
	left=$(ls "$QB_DIR/var/lib/cni/networks/qemubox-net" 2>/dev/null | grep -Ev '^(last_reserved_ip.*|lock)$')
	[ -z "$left" ] || fail "IPAM reservations left: $left" || return
	left=$(qb_state_left)
	[ -z "$left" ] || fail "state left in $QB_STATE: $left" || return
	return 0
}

# What ctr leaves of a container whose task failed.
forget() {
	ctd_ctr task delete -f "$1" >/dev/null 2>&1
	ctd_ctr containers delete "$1" >/dev/null 2>&1
	ctd_ctr snapshots rm "$1" >/dev/null 2>&1
	return 0
}

# A `ctr run` that must fail: $1 mode, $2 id, $3 bound in s, $4 ERE the
# error ctr prints must match, $5 ERE the shim's log must match.
expect_create_fails() {
	local mode=$1 id=$2 bound=$3 want=$4 shimwant=$5 off t1 t2 rc out
	hostile_mode "$mode" || fail "cannot write the $mode initrd" || return
	off=$(log_mark)
	t1=$(date +%s)
	out=$(timeout "$((bound + 30))" ctr --address "$CTD_SOCK" --namespace "$CTD_NS" \
		run --rm --runtime "$QB_RUNTIME" "$IMG" "$id" true 2>&1)
	rc=$?
	t2=$(date +%s)
	forget "$id"
	echo "# $mode: ctr run status $rc after $((t2 - t1)) s: $(echo "$out" | tail -1 | cut -c1-300)" | tee -a "$FIG"
	assert_no_crash "$off" "$id" || return
	[ "$rc" -ne 124 ] || fail "ctr run still waiting after $((bound + 30)) s" || return
	[ "$rc" -ne 0 ] || fail "ctr run succeeded against a $mode guest" || return
	[ $((t2 - t1)) -le "$bound" ] || fail "took $((t2 - t1)) s, bound $bound s" || return
	echo "$out" | grep -E -q "$want" || fail "error does not say what happened: $out" || return
	log_since "$off" | grep -E -q "$shimwant" || fail "the shim did not log /$shimwant/" || return
	assert_clean "$id"
}

# --- tests -------------------------------------------------------------------

# Bounds: boot_timeout and the per-call timeout are 30 s (config default and
# VMB_CALL_TIMEOUT_MS); TCG boot to PID 1 is ~5 s here; stopping a VM whose
# guest ignores ACPI takes shutdown_timeout (5 s) more.

t_mute() {
	expect_create_fails mute "$P-mute" 75 \
		'not ready in time' 'guest channel: not ready in time'
}

t_silent() {
	expect_create_fails silent "$P-silent" 90 \
		'ConfigureNetwork: no answer in time' 'ConfigureNetwork: no answer in time'
}

t_hugelen() {
	expect_create_fails hugelen "$P-huge" 60 \
		'protocol violation: frame too long' 'protocol violation: frame too long'
}

t_garbage() {
	expect_create_fails garbage "$P-garb" 60 \
		'protocol violation: unknown frame type' 'protocol violation: unknown frame type'
}

t_wrong_sid() {
	expect_create_fails wrong-sid "$P-sid" 60 \
		'protocol violation: unexpected or undecodable response' \
		'protocol violation: unexpected or undecodable response'
}

# Valid-looking events as fast as the channel carries them: OOM for the
# container and Exit for processes that do not exist. The task must keep
# running through the flood (no forged exit taken), end with the guest's real
# status 7 after it, and the shim's memory must not follow the flood.
t_flood_event() {
	local id=$P-fev off pid base max rc t1 t2 stop=$WORK/stop.fev
	hostile_mode flood-event "$FLOOD_SECS" || return
	off=$(log_mark)
	t1=$(date +%s)
	# Detached, and deleted only after the guest's console.log (its frame
	# count) was read: the log goes with the sandbox at Delete.
	ctd_ctr run -d --runtime "$QB_RUNTIME" "$IMG" "$id" true >"$WORK/fev.out" 2>&1 ||
		{ forget "$id"; fail "ctr run -d: $(cat "$WORK/fev.out")"; return; }
	pid=$(wait_shim "$id" 60) || { forget "$id"; fail "no shim"; return; }
	# The flood starts with the task: the baseline is the shim at RUNNING.
	wait_running "$id" 90 || { forget "$id"; fail "not RUNNING"; return; }
	rm -f "$WORK/rss.fev" "$stop"
	rss_sampler "$pid" "$WORK/rss.fev" "$stop" &
	local sampler=$!
	qb_wait_status "$id" STOPPED $((FLOOD_SECS + 120)) >>"$WORK/fev.out" 2>&1
	t2=$(date +%s)
	touch "$stop"
	wait $sampler
	local log logb ooms unk sent i
	# The serial console trails the channel that carried the exit.
	for i in $(seq 1 50); do
		sent=$(sed -n 's/.*flood done: \([0-9]*\) frames.*/\1/p' "$QB_LOGS/$id/console.log" 2>/dev/null)
		[ -n "$sent" ] && break
		sleep 0.2
	done
	[ -n "$sent" ] || { echo "# console.log:"; tail -n 5 "$QB_LOGS/$id/console.log" 2>&1 | sed 's/^/#   /'; }
	ctd_ctr task delete "$id" >>"$WORK/fev.out" 2>&1
	# The status containerd got (/tasks/exit; ctr task delete only warns).
	rc=$(log_since "$off" | sed -n "s/.*events_task_event: \/tasks\/exit container=$id id=$id pid=[0-9]* exit=\([0-9]*\).*/\1/p" | tail -n 1)
	forget "$id"
	base=$(head -1 "$WORK/rss.fev")
	max=$(sort -n "$WORK/rss.fev" | tail -1)
	log=$(log_since "$off")
	logb=$(( $(log_mark) - off ))
	ooms=$(echo "$log" | grep -c "events_task_event: /tasks/oom container=$id ")
	unk=$(echo "$log" | grep -c 'exit of unknown process')
	{
	echo "# flood-event: status $rc after $((t2 - t1)) s; guest sent ${sent:-?} events in ${FLOOD_SECS} s"
	echo "#   shim RSS at RUNNING ${base:-?} KiB, max ${max:-?} KiB ($(wc -l <"$WORK/rss.fev") samples)"
	echo "#   OOM events published to containerd: $ooms; unknown-exit warnings logged: $unk; containerd log grew $((logb / 1024)) KiB"
	} | tee -a "$FIG"
	assert_no_crash "$off" "$id" || return
	[ "$rc" = 7 ] || fail "status '$rc', want the guest's real 7: $(tail -3 "$WORK/fev.out")" || return
	[ $((t2 - t1)) -ge "$FLOOD_SECS" ] || fail "task ended after $((t2 - t1)) s, before the flood did: a forged exit was taken" || return
	[ -n "$base" ] && [ -n "$max" ] || fail "no RSS samples" || return
	[ "$max" -le $((base + RSS_SLACK_KB)) ] || fail "shim RSS grew from $base to $max KiB during the flood" || return
	[ "$unk" -ge 1 ] || fail "the shim never saw the forged exits" || return
	[ -n "$sent" ] || fail "no 'flood done' line in $id's console.log before Delete" || return
	# Coalesced and rate-limited (shim/guest_client.h GUEST_OOM_*: burst 8,
	# 2/s; vm_backend logs unknown exits 1, 2, 4, 8...).
	[ "$ooms" -ge 1 ] && [ "$ooms" -le $((8 + 2 * (t2 - t1) + 2)) ] ||
		fail "$ooms OOM events reached containerd in $((t2 - t1)) s" || return
	[ "$unk" -le 40 ] || fail "$unk unknown-exit warnings: the guest floods the host's log" || return
	[ "$logb" -le $((4 << 20)) ] || fail "containerd's log grew $logb bytes during the flood" || return
	assert_clean "$id"
}

# stdout DATA with no regard for credit while the reader (ctr's stdout pipe)
# stalls: the shim must hold no more than the window, call it a violation,
# kill the VM and end the task (137).
t_flood_data() {
	local id=$P-fdat off pid base max rc t1 t2 stop=$WORK/stop.fdat
	hostile_mode flood-data "$FLOOD_SECS" || return
	off=$(log_mark)
	t1=$(date +%s)
	( qb_run "$IMG" "$id" true 2>"$WORK/fdat.err" | { sleep 10; wc -c >"$WORK/fdat.bytes"; }
	  echo "${PIPESTATUS[0]}" >"$WORK/fdat.rc" ) &
	local run=$!
	pid=$(wait_shim "$id" 60) || { kill $run; fail "no shim"; return; }
	rm -f "$WORK/rss.fdat" "$stop"
	rss_sampler "$pid" "$WORK/rss.fdat" "$stop" &
	local sampler=$!
	wait $run
	t2=$(date +%s)
	touch "$stop"
	wait $sampler
	rc=$(cat "$WORK/fdat.rc" 2>/dev/null)
	forget "$id"
	base=$(head -1 "$WORK/rss.fdat")
	max=$(sort -n "$WORK/rss.fdat" | tail -1)
	echo "# flood-data: status $rc after $((t2 - t1)) s, $(cat "$WORK/fdat.bytes" 2>/dev/null) bytes reached ctr; shim RSS first ${base:-?} KiB, max ${max:-?} KiB" | tee -a "$FIG"
	assert_no_crash "$off" "$id" || return
	[ "$rc" = 137 ] || fail "status '$rc', want 137 (VM killed): $(tail -3 "$WORK/fdat.err")" || return
	[ $((t2 - t1)) -le 90 ] || fail "took $((t2 - t1)) s" || return
	[ -n "$base" ] && [ "$max" -le $((base + RSS_SLACK_KB)) ] || fail "shim RSS grew from $base to $max KiB" || return
	log_since "$off" | grep -q 'data beyond credit' || fail "the shim did not log the credit violation" || return
	assert_clean "$id"
}

# Exit events for ids and exec ids that do not exist, before and after
# Start: the task keeps running; a real kill still ends it with 143.
t_forge_exit() {
	local id=$P-forge off rc
	hostile_mode forge-exit || return
	off=$(log_mark)
	qb_run "$IMG" "$id" sleep 1000 >"$WORK/forge.out" 2>&1 &
	local run=$!
	wait_running "$id" 90
	sleep 3
	is_running "$id" ||
		{ kill $run; forget "$id"; fail "task not RUNNING 3 s after start: $(ctd_ctr task ls 2>&1 | tr '\n' ' ')"; return; }
	ctd_ctr task kill -s SIGTERM "$id" || fail "kill failed"
	wait $run
	rc=$?
	forget "$id"
	assert_no_crash "$off" "$id" || return
	[ "$rc" -eq 143 ] || fail "status $rc, want 143: $(tail -3 "$WORK/forge.out")" || return
	log_since "$off" | grep -q 'exit of unknown process.*(4 so far)' || fail "the shim did not see the forged exits" || return
	assert_clean "$id"
}

# Answers up to Start, then nothing, Kill included: SIGKILL must still end
# the task (the shim kills the VM when the guest does not answer it), in
# about the call timeout (30 s).
t_stuck() {
	local id=$P-stuck off rc t1 t2
	hostile_mode stuck || return
	off=$(log_mark)
	qb_run "$IMG" "$id" sleep 1000 >"$WORK/stuck.out" 2>&1 &
	local run=$!
	wait_running "$id" 90 || { kill $run; forget "$id"; fail "not RUNNING"; return; }
	t1=$(date +%s)
	ctd_ctr task kill -s SIGKILL "$id" >"$WORK/stuck.kill" 2>&1 || fail "kill: $(cat "$WORK/stuck.kill")"
	wait $run
	rc=$?
	t2=$(date +%s)
	forget "$id"
	echo "# stuck: SIGKILL -> status $rc after $((t2 - t1)) s" | tee -a "$FIG"
	assert_no_crash "$off" "$id" || return
	[ "$rc" -eq 137 ] || fail "status $rc, want 137: $(tail -3 "$WORK/stuck.out")" || return
	[ $((t2 - t1)) -le 60 ] || fail "SIGKILL took $((t2 - t1)) s" || return
	log_since "$off" | grep -q 'did not answer a SIGKILL' || fail "the shim did not say why it killed the VM" || return
	assert_clean "$id"
}

DMESG0=
dmesg >/dev/null 2>&1 && DMESG0=$(( $(dmesg | wc -l) + 1 ))

# HOSTILE_ONLY="t_mute t_garbage" runs only those.
hostile_test() {
	case " ${HOSTILE_ONLY:-$2} " in *" $2 "*) tap_run "$@" ;; esac
}

hostile_test "never Ready: ctr run fails, 'not ready in time', nothing left" t_mute
hostile_test "Ready but never answers: deadline error, VM killed, nothing left" t_silent
hostile_test "response length 4 GiB: protocol violation, nothing left" t_hugelen
hostile_test "garbage bytes: protocol violation, nothing left" t_garbage
hostile_test "response on a finished stream id: violation, nothing left" t_wrong_sid
hostile_test "event flood (OOM + forged exits): task survives, real exit 7, RSS bounded" t_flood_event
hostile_test "stdout DATA beyond credit, reader stalled: 137, RSS bounded" t_flood_data
hostile_test "forged exit events ignored; real kill -> 143" t_forge_exit
hostile_test "stuck after Start: unanswered SIGKILL kills the VM -> 137" t_stuck
cat "$FIG"
echo "# hostile guest wall time: $(( $(date +%s) - T0 ))s"
tap_done
