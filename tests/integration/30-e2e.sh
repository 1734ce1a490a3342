#!/usr/bin/env bash
# End to end: a private containerd (Debian's 1.6) runs containers with
# --runtime io.containerd.qemubox.v1, each in its own QEMU VM (TCG here), with
# real crun in the guest, real CNI plugins and real mkfs.erofs. Every test is
# independent and must leave nothing behind (checked after each one).
#
# QB_E2E_CLONE=1 (tests/integration/30-e2e-clone.sh) runs the same tests with
# runtime.clone on: once the template holder qemubox-tmpl (started by the
# first shim) has its template ready, every sandbox is a clone of it; the
# clone tests at the end check that they are, that two clones' RNG and MACs
# differ, and that a holder killed while idle means a cold boot, then a new
# holder, and leaves nothing behind.
set -u
cd "$(dirname "$0")/../.."
. tests/lib/tap.sh
. tests/lib/containerd.sh
. tests/lib/qemubox.sh

T0=$(date +%s)
CLONE=${QB_E2E_CLONE:-}
# runtime members every config of this run has ("clone": true in clone mode).
BASE_JSON=${CLONE:+'"clone": true'}
cleanup() {
	ctd_stop
	[ -n "$CLONE" ] && holder_stop
	qb_teardown
}
on_exit cleanup

qb_suite_start "end-to-end suite${CLONE:+ (clone mode)}"

# --- helpers -----------------------------------------------------------------

# Start a detached container that sleeps; $1 = id, rest = extra ctr run flags.
run_detached() {
	local id=$1; shift
	ctd_ctr run -d --runtime "$QB_RUNTIME" "$@" "$IMG" "$id" sleep 100000 >/dev/null ||
		fail "run -d $id failed"
	qb_wait_status "$id" RUNNING 60
}

# Nothing of a finished container may remain: processes started from our
# prefix (shims, helpers; QEMU dies with vmmon), netns, IPAM reservations,
# per-container state and log dirs beyond the documented console.log.
assert_clean() {
	local left rc=0
	left=$(qb_procs_left)
	[ -z "$left" ] || { fail "processes left:$left"; rc=1; }
	left=$(ls /run/netns 2>/dev/null | grep '^qemubox-' | while read -r n; do
		for id in "$@"; do [ "$n" = "qemubox-$id" ] && echo "$n"; done; done)
	[ -z "$left" ] || { fail "netns left: $left"; rc=1; }
	left=$(ls "$QB_DIR/var/lib/cni/networks/qemubox-net" 2>/dev/null | grep -Ev '^(last_reserved_ip.*|lock)$')
	[ -z "$left" ] || { fail "IPAM reservations left: $left"; rc=1; }
	left=$(qb_state_left)
	[ -z "$left" ] || { fail "state left in $QB_STATE: $left"; rc=1; }
	return $rc
}

# containerd runs a shim's `delete` action once the shim has disconnected
# and logs whatever it wrote on stderr as "cleanup warnings" (level
# warning): after a clean run of $1 there must be none.
assert_no_cleanup_warnings() {
	local id=$1 i w
	for i in $(seq 1 50); do
		ctd_log | grep -q "cleaning up after shim disconnected.*id=$id" && break
		sleep 0.2
	done
	[ "$i" -lt 50 ] || fail "containerd never ran delete for $id" || return
	[ -z "$(qb_procs_left)" ] || fail "delete of $id still running" || return
	w=$(ctd_log | sed -n "/cleaning up after shim disconnected.*id=$id/,\$p" | grep 'cleanup warnings')
	[ -z "$w" ] || fail "containerd logged the delete of $id as warnings: $w"
}

# --- clone mode -------------------------------------------------------------

# The holder's pids: qemubox-tmpl and its children (vmmons), one per line.
holder_pids() {
	local h
	for h in $(pgrep -x qemubox-tmpl); do
		[ "$(readlink "/proc/$h/exe" 2>/dev/null)" = "$QB_PREFIX/libexec/qemubox/qemubox-tmpl" ] || continue
		echo "$h"
		pgrep -P "$h"
	done
}

# Up to $1 s for the holder's log to say its template is ready ($2: how
# many "template ready" lines, default 1).
holder_wait_ready() {
	local i
	for i in $(seq 1 $(($1 * 2))); do
		[ "$(grep -c "template ready" "$QB_LOGS/qemubox-tmpl.log" 2>/dev/null)" -ge "${2:-1}" ] && return 0
		sleep 0.5
	done
	return 1
}

holder_stop() {
	"$QB_PREFIX/bin/qemubox-cleanup" qemubox-tmpl >/dev/null 2>&1
	local p
	for p in $(holder_pids); do kill -KILL "$p" 2>/dev/null; done
}

# Clone mode: the holder (and its vmmons) outlive every sandbox.
[ -n "$CLONE" ] && qb_keep_pids() { holder_pids; }

# How many sandboxes the shims made clones of so far (their log lines).
clones_made() { ctd_log | grep -c "a clone of template generation"; }

if [ -n "$CLONE" ]; then
	QB_RUNTIME_JSON=$BASE_JSON qb_write_config
	# The first shim starts the holder; until its template is ready,
	# sandboxes cold-boot.
	qb_run "$IMG" ${QB_T}-warm true >/dev/null 2>&1
	if ! holder_wait_ready 300; then
		echo "1..1"
		echo "not ok 1 - clone mode: no template ready within 300 s: $(tail -n 3 "$QB_LOGS/qemubox-tmpl.log" 2>&1 | tr '\n' ' ')"
		exit 1
	fi
	echo "# template ready after $(($(date +%s) - T0)) s"
fi

# --- tests -------------------------------------------------------------------

t_echo() {
	local out
	out=$(qb_run "$IMG" ${QB_T}-echo echo hello from a VM) || fail "ctr run failed: $out" || return
	[ "$out" = "hello from a VM" ] || fail "output: '$out'" || return
	assert_clean ${QB_T}-echo || return
	assert_no_cleanup_warnings ${QB_T}-echo
}

t_uname_guest_kernel() {
	local out
	out=$(qb_run "$IMG" ${QB_T}-uname uname -r) || fail "ctr run failed" || return
	[ "$out" != "$(uname -r)" ] || fail "container saw the host kernel $out: not in a VM" || return
	[ -n "$out" ] || fail "empty uname"
}

t_exit_42() {
	qb_run "$IMG" ${QB_T}-exit42 sh -c 'exit 42'
	local rc=$?
	[ "$rc" -eq 42 ] || fail "exit status $rc, want 42" || return
	assert_clean ${QB_T}-exit42
}

t_kill_137() {
	qb_run "$IMG" ${QB_T}-kill sleep 100000 >/dev/null 2>&1 &
	local pid=$!
	qb_wait_status ${QB_T}-kill RUNNING 60 || { kill $pid; return 1; }
	ctd_ctr task kill -s SIGKILL ${QB_T}-kill || fail "kill failed"
	wait $pid
	local rc=$?
	[ "$rc" -eq 137 ] || fail "exit status $rc, want 137" || return
	assert_clean ${QB_T}-kill
}

t_exec_sigterm_143() {
	run_detached ${QB_T}-term || return
	ctd_ctr task exec --exec-id sl ${QB_T}-term sleep 100000 >/dev/null 2>&1 &
	local pid=$! i
	# The exec starts asynchronously: retry until it is running.
	for i in $(seq 1 100); do
		ctd_ctr task kill --exec-id sl -s SIGTERM ${QB_T}-term 2>/dev/null && break
		sleep 0.3
	done
	wait $pid
	local rc=$?
	qb_remove ${QB_T}-term
	[ "$rc" -eq 143 ] || fail "exec exit status $rc, want 143" || return
	assert_clean ${QB_T}-term
}

t_signal_inside() {
	run_detached ${QB_T}-sig || return
	ctd_ctr task exec --exec-id segv ${QB_T}-sig sh -c 'kill -SEGV $$'
	local rc=$?
	qb_remove ${QB_T}-sig
	[ "$rc" -eq 139 ] || fail "exec killed by SIGSEGV inside: status $rc, want 139"
}

t_stdin() {
	local out
	out=$(echo data | ctd_ctr run --rm --runtime "$QB_RUNTIME" "$IMG" ${QB_T}-stdin cat) || fail "run with stdin failed" || return
	[ "$out" = data ] || fail "cat echoed '$out'" || return
	assert_clean ${QB_T}-stdin
}

t_stdout_stderr() {
	qb_run "$IMG" ${QB_T}-sep sh -c 'echo to-out; echo to-err >&2' >"$WORK/o" 2>"$WORK/e" || fail "run failed" || return
	[ "$(cat "$WORK/o")" = to-out ] || fail "stdout: $(cat "$WORK/o")" || return
	[ "$(cat "$WORK/e")" = to-err ] || fail "stderr: $(cat "$WORK/e")"
}

t_seq_1000() {
	local got want
	got=$(qb_run "$IMG" ${QB_T}-seq seq 1000 | md5sum)
	want=$(seq 1000 | md5sum)
	[ "$got" = "$want" ] || fail "seq 1000 differs"
}

t_100mib() {
	# 15 x the 6.9 MB of `seq 1 1000000` = 103 MB through stdout.
	local got want
	got=$(qb_run "$IMG" ${QB_T}-big sh -c 'seq 1 1000000 >/tmp/s; i=0; while [ $i -lt 15 ]; do cat /tmp/s; i=$((i+1)); done' | md5sum)
	want=$(seq 1 1000000 >"$WORK/s"; for i in $(seq 15); do cat "$WORK/s"; done | md5sum)
	[ "$got" = "$want" ] || fail "100 MiB checksum differs: $got vs $want"
}

t_quick_exits() {
	local i out
	for i in 1 2 3 4 5; do
		out=$(qb_run "$IMG" "${QB_T}-quick$i" echo "line $i") || fail "run $i failed" || return
		[ "$out" = "line $i" ] || fail "run $i printed '$out'" || return
	done
	assert_clean ${QB_T}-quick1 ${QB_T}-quick2 ${QB_T}-quick3 ${QB_T}-quick4 ${QB_T}-quick5
}

# ctr run --rm with the same id back to back: the next start comes while
# the previous shim still powers its VM off and tears its network down.
t_same_id_twice() {
	local i out
	for i in 1 2 3; do
		out=$(qb_run "$IMG" "${QB_T}-same" echo "run $i" 2>&1) || fail "run $i: $out" || return
		[ "$out" = "run $i" ] || fail "run $i printed '$out'" || return
	done
	assert_clean ${QB_T}-same
}

t_env_cwd() {
	local out
	out=$(qb_run --env FOO=bar --cwd /tmp "$IMG" ${QB_T}-env sh -c 'echo "$FOO $(pwd)"') || fail "run failed" || return
	[ "$out" = "bar /tmp" ] || fail "got '$out'"
}

t_read_only() {
	local out
	out=$(qb_run --read-only "$IMG" ${QB_T}-ro sh -c 'touch /newfile 2>&1; echo rc=$?')
	case "$out" in *"Read-only file system"*rc=1*) ;; *) fail "read-only rootfs not honoured: $out" ;; esac
}

t_writable_isolated() {
	local out
	out=$(qb_run "$IMG" ${QB_T}-w1 sh -c 'echo changed > /bin/marker; cat /bin/marker') || fail "write failed" || return
	[ "$out" = changed ] || fail "could not write in the rootfs: $out" || return
	out=$(qb_run "$IMG" ${QB_T}-w2 sh -c 'cat /bin/marker 2>&1 || echo absent')
	case "$out" in *absent*|*"No such file"*) ;; *) fail "second container saw the first one's write: $out" ;; esac
}

t_exec() {
	run_detached ${QB_T}-exec || return
	local out rc
	out=$(ctd_ctr task exec --exec-id e1 ${QB_T}-exec echo from-exec) || fail "exec failed" || return
	[ "$out" = from-exec ] || fail "exec printed '$out'" || return
	ctd_ctr task exec --exec-id e2 ${QB_T}-exec sh -c 'exit 7'
	rc=$?
	[ "$rc" -eq 7 ] || fail "exec exit status $rc, want 7" || return
	out=$(script -qec "ctr --address $CTD_SOCK --namespace $CTD_NS task exec -t --exec-id e3 ${QB_T}-exec tty" /dev/null | tr -d '\r')
	case "$out" in /dev/pts/*) ;; *) fail "exec -t: tty printed '$out'" || return ;; esac
	ctd_ctr task ps ${QB_T}-exec | awk 'NR > 1 && $1 ~ /^[0-9]+$/ { n++ } END { exit !(n >= 1) }' || fail "task ps lists no pid" || return
	qb_remove ${QB_T}-exec
	assert_clean ${QB_T}-exec
}

# An exec'd process gets what crun gave the container's init from the same
# process spec (the agent starts execs itself: guest/agent_exec.c): ids,
# capability sets, NoNewPrivs, seccomp, namespaces, cgroup, rlimits; no fd
# beyond stdio; its exec's own user and cwd; a clear error for a missing binary.
t_exec_like_init() {
	run_detached ${QB_T}-xs --seccomp --cap-drop CAP_NET_RAW --cap-drop CAP_CHOWN || return
	local q='^(Uid|Gid|Groups|CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp|Seccomp_filters):'
	local show='p=$1; grep -E "'"$q"'" /proc/$p/status; for n in mnt pid ipc uts cgroup; do readlink /proc/$p/ns/$n; done; cat /proc/$p/cgroup; cat /proc/$p/limits'
	local init mine out
	init=$(ctd_ctr task exec --exec-id x1 ${QB_T}-xs sh -c "$show" sh 1) || fail "exec (init's view) failed" || return
	mine=$(ctd_ctr task exec --exec-id x2 ${QB_T}-xs sh -c "$show" sh self) || fail "exec failed" || return
	[ "$(echo "$init" | grep -c '^Seccomp:.*2')" = 1 ] || fail "init not under seccomp: $init" || return
	echo "$init" | grep -q '^CapBnd:.*' || fail "no CapBnd line: $init" || return
	[ "$init" = "$mine" ] || fail "exec differs from init: $(diff <(echo "$init") <(echo "$mine") | tr '\n' ' ')" || return
	out=$(ctd_ctr task exec --exec-id x3 ${QB_T}-xs ls /proc/self/fd | tr '\n' ' ')
	[ "$out" = "0 1 2 3 " ] || fail "exec'd ls has fds '$out', want 0 1 2 3 (3: its own dir)" || return
	out=$(ctd_ctr task exec --exec-id x4 --user 1000 --cwd /tmp ${QB_T}-xs sh -c 'grep -E "^(Uid|Gid):" /proc/self/status | tr -s "\t" " "; pwd; umask' | tr '\n' ' ')
	[ "$out" = "Uid: 1000 1000 1000 1000 Gid: 0 0 0 0 /tmp 0022 " ] ||
		[ "$out" = "Uid: 1000 1000 1000 1000 Gid: 1000 1000 1000 1000 /tmp 0022 " ] ||
		fail "exec --user 1000 --cwd /tmp: '$out'" || return
	# (ctr waits for the exec's FIFOs to close before it reports the error.)
	out=$(timeout 60 ctr --address "$CTD_SOCK" --namespace "$CTD_NS" task exec --exec-id x5 ${QB_T}-xs /no/such/binary 2>&1) &&
		fail "exec of a missing binary succeeded" || true
	echo "$out" | grep -qiE 'no such file|not found' || fail "missing binary: unclear error '$out'" || return
	ctd_ctr task exec --exec-id x6 ${QB_T}-xs sh -c 'exit 3'
	[ $? -eq 3 ] || fail "exec exit status not 3" || return
	qb_remove ${QB_T}-xs
	assert_clean ${QB_T}-xs
}

t_tty() {
	command -v tmux >/dev/null || tap_skip "tmux not installed"
	local s=qbtty$$ out
	tmux new-session -d -s "$s" -x 80 -y 24 \
		"ctr --address $CTD_SOCK --namespace $CTD_NS run -t --rm --runtime $QB_RUNTIME $IMG ${QB_T}-tty sh"
	local i
	for i in $(seq 1 120); do
		tmux capture-pane -p -t "$s" | grep -q '# $\|#$\|/ #' && break
		sleep 0.5
	done
	tmux send-keys -t "$s" 'echo typed-$((6*7))' Enter
	sleep 1
	tmux resize-window -t "$s" -x 100 -y 30 2>/dev/null || tmux refresh-client -t "$s" -C 100,30 2>/dev/null
	sleep 1
	tmux send-keys -t "$s" 'stty size' Enter
	sleep 2
	out=$(tmux capture-pane -p -t "$s")
	tmux send-keys -t "$s" 'exit' Enter
	sleep 2
	tmux kill-session -t "$s" 2>/dev/null
	qb_remove ${QB_T}-tty
	echo "$out" | grep -q 'typed-42' || fail "typed command not run: $out" || return
	echo "$out" | grep -q '^30 100' || fail "resize not seen by stty size: $out"
}

t_pause_resume() {
	ctd_ctr run -d --runtime "$QB_RUNTIME" "$IMG" ${QB_T}-pause sh -c 'i=0; while true; do i=$((i+1)); echo $i >/tmp/c; sleep 0.2; done' >/dev/null || fail "run -d" || return
	qb_wait_status ${QB_T}-pause RUNNING 60 || return
	sleep 1
	ctd_ctr task pause ${QB_T}-pause || fail "pause failed" || return
	qb_wait_status ${QB_T}-pause PAUSED 10 || return
	sleep 2
	ctd_ctr task resume ${QB_T}-pause || fail "resume failed" || return
	local a b
	a=$(ctd_ctr task exec --exec-id r1 ${QB_T}-pause cat /tmp/c)
	sleep 2
	b=$(ctd_ctr task exec --exec-id r2 ${QB_T}-pause cat /tmp/c)
	qb_remove ${QB_T}-pause
	# Paused for 2 s: the counter must have advanced by far less than the
	# ~10 steps of 2 s running; after resume it advances again.
	[ -n "$a" ] && [ -n "$b" ] || fail "counter unreadable ($a, $b)" || return
	[ $((b - a)) -ge 3 ] || fail "counter did not continue after resume: $a -> $b"
}

t_network() {
	local out gw
	gw=$(qb_gateway)
	out=$(qb_run "$IMG" ${QB_T}-net sh -c "ip -4 addr show eth0; ping -c 1 -W 5 $gw >/dev/null && echo gw-ok") || fail "run failed: $out" || return
	echo "$out" | grep -q "inet ${QB_SUBNET%.*}\." || fail "no CNI address from $QB_SUBNET: $out" || return
	echo "$out" | grep -q gw-ok || fail "bridge gateway $gw unreachable: $out"
}

# The container's first command sees eth0 ready, as on a host whose network
# is up before its services start: operstate "up" and IFF_UP + LOWER_UP with
# no NO-CARRIER (IFF_RUNNING), which wait-online tools and health checks test.
t_eth0_up_at_start() {
	local out
	out=$(qb_run "$IMG" ${QB_T}-up sh -c 'cat /sys/class/net/eth0/operstate; ip link show eth0') || fail "run failed: $out" || return
	[ "$(echo "$out" | head -n 1)" = up ] || fail "operstate at start: $out" || return
	echo "$out" | grep -q '[<,]UP[,>]' || fail "eth0 not UP: $out" || return
	echo "$out" | grep -q '[<,]LOWER_UP[,>]' || fail "eth0 without LOWER_UP: $out" || return
	! echo "$out" | grep -q 'NO-CARRIER' || fail "eth0 NO-CARRIER: $out" || return
	assert_clean ${QB_T}-up
}

t_two_containers_talk() {
	run_detached ${QB_T}-na || return
	local ip out
	ip=$(ctd_ctr task exec --exec-id ip ${QB_T}-na ip -4 -o addr show eth0 | awk '{ split($4, a, "/"); print a[1] }')
	[ -n "$ip" ] || fail "no address for ${QB_T}-na" || { qb_remove ${QB_T}-na; return 1; }
	out=$(qb_run "$IMG" ${QB_T}-nb sh -c "ping -c 1 -W 5 $ip >/dev/null && echo peer-ok")
	qb_remove ${QB_T}-na
	[ "$out" = peer-ok ] || fail "${QB_T}-nb could not reach ${QB_T}-na at $ip: $out"
}

t_events() {
	ctd_ctr events >"$WORK/events" 2>&1 &
	local epid=$!
	sleep 0.5
	run_detached ${QB_T}-ev || { kill $epid; return 1; }
	ctd_ctr task exec --exec-id ev1 ${QB_T}-ev true
	qb_remove ${QB_T}-ev
	sleep 1
	kill $epid 2>/dev/null; wait $epid 2>/dev/null
	local order
	order=$(grep -o '/tasks/[a-z-]*' "$WORK/events" | grep -v '/tasks/exit' | uniq | tr '\n' ' ')
	grep -q '/tasks/create.*' "$WORK/events" || fail "no /tasks/create: $order" || return
	local want="/tasks/create /tasks/start /tasks/exec-added /tasks/exec-started /tasks/delete"
	echo "$order" | grep -q "$(echo "$want" | sed 's/ /.*/g')" || fail "event order: $order" || return
	# Two exits (exec, then init after the kill), both before the delete.
	[ "$(grep -c '/tasks/exit' "$WORK/events")" -ge 2 ] || fail "missing /tasks/exit events"
}

t_metrics() {
	run_detached ${QB_T}-met || return
	local out
	out=$(ctd_ctr task metrics ${QB_T}-met 2>&1)
	qb_remove ${QB_T}-met
	echo "$out" | grep -qi 'memory' || fail "no memory metrics: $out"
}

t_three_at_once() {
	local id
	for id in ${QB_T}-m1 ${QB_T}-m2 ${QB_T}-m3; do run_detached "$id" || return; done
	[ "$(ctd_ctr task ls | grep -c RUNNING)" -ge 3 ] || fail "not 3 running" || return
	for id in ${QB_T}-m1 ${QB_T}-m2 ${QB_T}-m3; do qb_remove "$id"; done
	assert_clean ${QB_T}-m1 ${QB_T}-m2 ${QB_T}-m3
}

# runtime.console_log_max_kb 4: the guest's boot messages alone are larger,
# so console.log rotates while the VM boots: console.log.1 holds the older
# part, cut at the cap and ending with vmmon's note, console.log the newest;
# neither passes the cap. With keep_logs both stay after Delete; without it
# the sandbox's log directory goes with the sandbox.
t_console_log() {
	local d=$QB_LOGS/${QB_T}-con cap=4096 n0 n1 rc
	# (Booted VMs even in clone mode: a clone prints no boot messages.)
	QB_RUNTIME_JSON='"console_log_max_kb": 4, "keep_logs": true' qb_write_config
	qb_run "$IMG" ${QB_T}-con true
	rc=$?
	QB_RUNTIME_JSON='"console_log_max_kb": 4' qb_write_config
	qb_run "$IMG" ${QB_T}-con2 true || rc=$?
	QB_RUNTIME_JSON=$BASE_JSON qb_write_config
	[ "$rc" -eq 0 ] || fail "ctr run failed ($rc)" || return
	# console.log may be empty: the VM can end right after a rotation.
	[ -s "$d/console.log.1" ] && [ -e "$d/console.log" ] ||
		fail "want console.log and console.log.1 in $d: $(ls -l "$d" 2>&1 | tr '\n' ' ')" || return
	n0=$(stat -c %s "$d/console.log")
	n1=$(stat -c %s "$d/console.log.1")
	echo "# console.log $n0 bytes, console.log.1 $n1 bytes (cap $cap + a note)"
	# The note vmmon adds when it stops at the cap is under 100 bytes.
	[ "$n0" -le $((cap + 100)) ] && [ "$n1" -le $((cap + 100)) ] || fail "above the cap: $n0, $n1" || return
	[ "$n1" -ge "$cap" ] || fail "console.log.1 rotated before the cap: $n1 bytes" || return
	tail -n 1 "$d/console.log.1" | grep -q 'size cap reached' ||
		fail "console.log.1 does not end with the cap note: $(tail -n 1 "$d/console.log.1")" || return
	# The kernel's first line went out in an earlier rotation.
	! grep -q 'Linux version' "$d/console.log" || fail "console.log still holds the start of the boot" || return
	rm -rf "$d"
	# The shim removes it as it ends, which may be after ctr returns:
	# assert_clean waits for it to end.
	assert_clean ${QB_T}-con ${QB_T}-con2 || return
	[ ! -e "$QB_LOGS/${QB_T}-con2" ] ||
		fail "keep_logs false, log dir left: $(ls "$QB_LOGS/${QB_T}-con2")"
}

t_missing_command() {
	local out
	out=$(qb_run "$IMG" ${QB_T}-nocmd /no/such/binary 2>&1) && fail "ran a missing binary" || true
	echo "$out" | grep -qiE 'no such file|not found' || fail "error does not say what is missing: $out" || return
	ctd_ctr containers delete ${QB_T}-nocmd >/dev/null 2>&1
	assert_clean ${QB_T}-nocmd
}

# The CNI chain runs while the VM boots (privnet's NET_TAP, then NET_WIRE):
# a plugin that fails still fails the Create with its message, and neither
# the netns, the IPAM lease nor a process is left.
t_cni_failure() {
	local out conf=$QB_CNI_CONF/10-qemubox.conflist
	cp "$conf" "$QB_DIR/conflist.keep"
	sed 's/{ "type": "firewall" }/{ "type": "qbnosuchplugin" }/' "$QB_DIR/conflist.keep" >"$conf"
	out=$(qb_run "$IMG" ${QB_T}-cnifail true 2>&1) && fail "ran with a failing CNI chain"
	mv "$QB_DIR/conflist.keep" "$conf"
	echo "$out" | grep -q 'qbnosuchplugin' || fail "error does not name the plugin: $out" || return
	ctd_ctr containers delete ${QB_T}-cnifail >/dev/null 2>&1
	assert_clean ${QB_T}-cnifail
}

# The guest loads the optional module groups (guest/modules.list) only for
# the devices its VM has: a plain container (no volume, not a pod, the
# virtio-serial channel) gets none of them, and what every VM needs is there.
t_guest_modules() {
	local out m
	out=$(qb_run "$IMG" ${QB_T}-mods cat /proc/modules) || fail "ctr run failed: $out" || return
	for m in virtio_blk virtio_net virtio_console erofs overlay virtio_balloon; do
		echo "$out" | grep -q "^$m " || fail "$m not loaded: $(echo "$out" | cut -d' ' -f1 | tr '\n' ' ')" || return
	done
	# A clone is its template's VM, which has the SCSI bus for the disks;
	# microvm has no PCI bus (virtio-mmio) and no VM has a virtio-mem device.
	for m in vsock vmw_vsock_virtio_transport fuse virtiofs ${CLONE:-scsi_mod sd_mod virtio_scsi} \
		virtio_pci virtio_pci_modern_dev virtio_pci_legacy_dev virtio_mem; do
		echo "$out" | grep -q "^$m " && { fail "$m loaded without its device"; return; }
	done
	assert_clean ${QB_T}-mods
}

# --- clone mode only -----------------------------------------------------------

# The template's NIC MAC (tmpl/tmpl.h TMPL_MAC): what a clone's NIC comes
# back with, and must not keep.
TMPL_MAC=02:71:62:74:00:01

# A clone's container: its kernel's uuid, 16 bytes of urandom, its eth0 MAC,
# whether the gateway answers.
clone_identity() {
	qb_run "$IMG" "$1" sh -c "cat /proc/sys/kernel/random/uuid; head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \\n'; echo; cat /sys/class/net/eth0/address; ping -c 1 -W 5 $(qb_gateway) >/dev/null && echo gw-ok"
}

# Two cloned sandboxes (one template, same RAM image): the RNG was reseeded
# in each (SetIdentity before anything ran), each NIC took its own veth's
# MAC (not the template's), and the network works.
t_clone_identity() {
	local n0 a b f
	n0=$(clones_made)
	a=$(clone_identity ${QB_T}-id1) || fail "run 1 failed: $a" || return
	b=$(clone_identity ${QB_T}-id2) || fail "run 2 failed: $b" || return
	echo "# clone 1: $(echo "$a" | tr '\n' ' ')"
	echo "# clone 2: $(echo "$b" | tr '\n' ' ')"
	[ $(($(clones_made) - n0)) -eq 2 ] || fail "$(($(clones_made) - n0)) of 2 sandboxes were clones" || return
	for f in 1 2 3; do
		[ -n "$(echo "$a" | sed -n ${f}p)" ] || fail "clone 1: line $f empty" || return
		[ "$(echo "$a" | sed -n ${f}p)" != "$(echo "$b" | sed -n ${f}p)" ] ||
			fail "line $f (uuid, urandom, MAC) is the same in both clones" || return
	done
	for f in "$a" "$b"; do
		[ "$(echo "$f" | sed -n 3p)" != "$TMPL_MAC" ] || fail "a clone kept the template's MAC" || return
		[ "$(echo "$f" | sed -n 4p)" = gw-ok ] || fail "a clone cannot reach the gateway" || return
	done
	assert_clean ${QB_T}-id1 ${QB_T}-id2
}

# A sandbox a template cannot be (a bind mount needs virtio-fs, which
# cannot migrate) cold-boots with runtime.clone on, and works.
t_clone_ineligible() {
	local n0 out d=$WORK/clone-bind
	mkdir -p "$d" && echo from-host >"$d/f"
	n0=$(clones_made)
	out=$(qb_run --mount "type=bind,src=$d,dst=/data,options=rbind:ro" "$IMG" ${QB_T}-inel cat /data/f 2>&1)
	[ "$out" = from-host ] || fail "bind mount in clone mode: $out" || return
	[ "$(clones_made)" -eq "$n0" ] || fail "a sandbox with a virtio-fs share was cloned" || return
	assert_clean ${QB_T}-inel
}

# The holder dies while idle (SIGKILL): nothing of it is left (process,
# template memfd); the next Create finds no holder and cold-boots, and its
# shim starts a new holder, whose template serves the Create after.
t_clone_holder_dies() {
	local pids p i u n0 r0 out left
	pids=$(holder_pids | tr '\n' ' ')
	[ -n "$pids" ] || fail "no holder running" || return
	r0=$(grep -c "template ready" "$QB_LOGS/qemubox-tmpl.log")
	kill -KILL $pids
	# Gone, or a zombie its parent (a shim: a subreaper) has not reaped yet.
	for p in $pids; do
		for i in $(seq 1 50); do
			[ -e "/proc/$p" ] && [ "$(awk '/^State:/ { print $2 }' "/proc/$p/status" 2>/dev/null)" != Z ] || break
			sleep 0.2
		done
		[ "$i" -lt 50 ] || fail "holder process $p left: $(tr '\0' ' ' <"/proc/$p/cmdline")" || return
	done
	# Held by a process of this run (its prefix or its uid range: the
	# holder, its vmmons, QEMUs); other runs on the host have their own.
	left=$(find /proc/[0-9]*/fd -lname '/memfd:qemubox-tmpl*' 2>/dev/null | while read -r f; do
		p=${f#/proc/}; p=${p%%/*}
		u=$(awk '/^Uid:/ { print $2 }' "/proc/$p/status" 2>/dev/null)
		case "$(readlink "/proc/$p/exe")" in "$QB_PREFIX"/*) echo "$f" ; continue ;; esac
		[ -n "$u" ] && [ "$u" -ge "${QB_UID_RANGE%-*}" ] && [ "$u" -le "${QB_UID_RANGE#*-}" ] && echo "$f"
	done)
	[ -z "$left" ] || fail "template memfds still held: $left" || return
	n0=$(clones_made)
	out=$(qb_run "$IMG" ${QB_T}-hd1 echo cold 2>&1)
	[ "$out" = cold ] || fail "Create without a holder: $out" || return
	[ "$(clones_made)" -eq "$n0" ] || fail "a clone without a holder" || return
	holder_wait_ready 300 $((r0 + 1)) || fail "no new template within 300 s" || return
	out=$(qb_run "$IMG" ${QB_T}-hd2 echo clone 2>&1)
	[ "$out" = clone ] || fail "Create with the new holder: $out" || return
	[ "$(clones_made)" -eq $((n0 + 1)) ] || fail "not a clone of the new holder's template" || return
	assert_clean ${QB_T}-hd1 ${QB_T}-hd2
}

tap_run "echo output; a clean delete logs no cleanup warnings" t_echo
tap_run "guest loads only the modules of its devices" t_guest_modules
tap_run "guest kernel, not the host's" t_uname_guest_kernel
tap_run "exit code 42" t_exit_42
tap_run "kill -> 137" t_kill_137
tap_run "exec killed by SIGTERM -> 143" t_exec_sigterm_143
tap_run "signal raised inside -> 139" t_signal_inside
tap_run "stdin to cat, CloseIO ends it" t_stdin
tap_run "stdout and stderr kept separate" t_stdout_stderr
tap_run "seq 1000 exact" t_seq_1000
tap_run "100 MiB through stdout, checksum" t_100mib
tap_run "5 quick-exit containers lose no output" t_quick_exits
tap_run "same id three times back to back" t_same_id_twice
tap_run "env and cwd" t_env_cwd
tap_run "read-only rootfs honoured" t_read_only
tap_run "writes invisible to the next container" t_writable_isolated
tap_run "exec, exec exit code, exec -t, task ps" t_exec
tap_run "exec'd process: same ids, caps, seccomp, namespaces, cgroup, limits as init; no extra fds; --user, --cwd; missing binary" t_exec_like_init
tap_run "tty: prompt, typed command, resize" t_tty
tap_run "pause and resume" t_pause_resume
tap_run "CNI address and gateway reachable" t_network
tap_run "eth0 is up (operstate up, LOWER_UP, no NO-CARRIER) for the first command" t_eth0_up_at_start
tap_run "a failing CNI plugin fails the Create with its message, nothing left" t_cni_failure
tap_run "two containers reach each other" t_two_containers_talk
tap_run "events in order" t_events
tap_run "task metrics (cgroup v2)" t_metrics
tap_run "3 containers at once, nothing left" t_three_at_once
tap_run "missing command: OCI error, nothing left" t_missing_command
tap_run "console.log rotates at console_log_max_kb, one older generation; removed unless keep_logs" t_console_log
if [ -n "$CLONE" ]; then
	tap_run "clone: two cloned sandboxes differ in uuid, urandom and MAC (not the template's), network works" t_clone_identity
	tap_run "clone: a sandbox with a bind mount (virtio-fs) cold-boots and works" t_clone_ineligible
	tap_run "clone: a holder killed while idle leaves nothing; cold boot, then a new holder's clones" t_clone_holder_dies
	echo "# sandboxes cloned in this run: $(clones_made)"
fi
echo "# integration wall time: $(( $(date +%s) - T0 ))s"
tap_done
