#!/usr/bin/env bash
# stdio integrity at full speed (issue 20): random data through the
# container's stdout and stdin checked by checksum, a 10 MiB tty stream, and
# stdout/stderr interleaved line by line keeping each stream's order. Real
# containerd, QEMU and crun; the sizes are the user's (QB_STDIO_MIB, 256).
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/containerd.sh
. tests/lib/qemubox.sh

MIB=${QB_STDIO_MIB:-256}
BYTES=$((MIB * 1048576))
# 256 MiB at TCG speed on a shared machine takes minutes, not the default 300 s.
export TAP_TIMEOUT=${TAP_TIMEOUT:-1500}
T0=$(date +%s)
cleanup() { ctd_stop; qb_teardown; }
on_exit cleanup

qb_suite_start "stdio integrity suite"

# The container writes BYTES of /dev/urandom to stdout and, through tee, their
# md5 to stderr: what the host reads must hash the same.
t_stdout_random() {
	local got want t0 t1
	t0=$(date +%s)
	got=$(qb_run "$IMG" "${QB_T}-so" sh -c \
		"exec 3>&1; head -c $BYTES /dev/urandom | tee /dev/fd/3 | md5sum >&2" \
		2>"$WORK/so.err" | md5sum | cut -d' ' -f1) || fail "ctr run failed: $(head -c 300 "$WORK/so.err")" || return
	t1=$(date +%s)
	want=$(grep -o '^[0-9a-f]\{32\}' "$WORK/so.err")
	echo "# $MIB MiB stdout in $((t1 - t0)) s (with start-up and tee): host $got, guest ${want:-none}"
	if [ -z "$want" ] || [ "$got" != "$want" ]; then
		fail "checksum: host $got guest ${want:-none}: $(head -c 300 "$WORK/so.err")"
	fi
}

# The host feeds BYTES of random data to md5sum in the container.
t_stdin_random() {
	local got want t0 t1
	head -c "$BYTES" /dev/urandom >"$WORK/in" || fail "cannot write $WORK/in" || return
	want=$(md5sum <"$WORK/in" | cut -d' ' -f1)
	t0=$(date +%s)
	got=$(qb_run "$IMG" "${QB_T}-si" md5sum <"$WORK/in" 2>"$WORK/si.err" | cut -d' ' -f1) ||
		fail "ctr run failed: $(head -c 300 "$WORK/si.err")" || return
	t1=$(date +%s)
	rm -f "$WORK/in"
	echo "# $MIB MiB stdin in $((t1 - t0)) s (with start-up): host $want, guest ${got:-none}"
	[ "$got" = "$want" ] || fail "checksum: host $want guest ${got:-none}: $(head -c 300 "$WORK/si.err")"
}

# ctr run -t in a tmux pane; the pane's raw output (pipe-pane) holds 10 MiB
# of base64 (7.5 MiB random) then the md5 the container computed of it.
t_tty_10mib() {
	command -v tmux >/dev/null || tap_skip "tmux not installed"
	local s=qbtty$$ raw=$WORK/tty.raw got want i
	: >"$raw"
	# The VM takes seconds to boot: the pipe is in place long before output.
	tmux new-session -d -s "$s" -x 200 -y 50 \
		"ctr --address $CTD_SOCK --namespace $CTD_NS run -t --rm --runtime $QB_RUNTIME $IMG ${QB_T}-tty sh -c 'exec 3>&1; s=\$(head -c 7864320 /dev/urandom | base64 | tee /dev/fd/3 | md5sum); echo; echo \"MD5 \$s\"'" ||
		fail "tmux new-session" || return
	tmux pipe-pane -t "$s" -o "cat >>$raw"
	# Until the MD5 line, or ctr has ended without one (the session is
	# gone: its output says why), or 600 s.
	for i in $(seq 1 600); do
		grep -aq 'MD5 [0-9a-f]\{32\}' "$raw" && break
		tmux has-session -t "$s" 2>/dev/null || break
		sleep 1
	done
	sleep 1
	tmux kill-session -t "$s" 2>/dev/null
	want=$(grep -ao 'MD5 [0-9a-f]\{32\}' "$raw" | cut -d' ' -f2)
	[ -n "$want" ] || {
		echo "# task: $(ctd_ctr task ls 2>&1 | grep -F -- "${QB_T}-tty")"
		ctd_log | grep -a -F -- "${QB_T}-tty" | tail -n 20 | sed 's/^/# ctd: /'
		qb_remove "${QB_T}-tty"
		fail "no MD5 line after ${i} s in $(wc -c <"$raw") bytes of tty output; its last bytes: $(tail -c 300 "$raw" | tr -d '\r' | tr '\n' ' ')"
		return
	}
	qb_remove "${QB_T}-tty"
	# ONLCR turned each \n into \r\n; the base64 lines end before the blank line.
	got=$(tr -d '\r' <"$raw" | awk '/^[A-Za-z0-9+\/=]+$/ { print; n++ } /^$/ && n { exit }' | md5sum | cut -d' ' -f1)
	echo "# tty: $(wc -c <"$raw") raw bytes, guest md5 $want, host $got"
	[ "$got" = "$want" ] || fail "tty stream checksum: host $got guest $want"
}

# Lines alternate between stdout and stderr; each stream keeps its own order.
t_interleaved() {
	local n=5000
	qb_run "$IMG" "${QB_T}-il" sh -c \
		"i=0; while [ \$i -lt $n ]; do echo \"o \$i\"; echo \"e \$i\" >&2; i=\$((i + 1)); done" \
		>"$WORK/il.out" 2>"$WORK/il.err" || fail "ctr run failed: $(head -c 300 "$WORK/il.err")" || return
	awk -v n=$n 'BEGIN { for (i = 0; i < n; i++) print "o " i }' | cmp -s - "$WORK/il.out" ||
		fail "stdout out of order or lost: $(wc -l <"$WORK/il.out") lines, first difference $(awk -v n=$n 'BEGIN { for (i = 0; i < n; i++) print "o " i }' | cmp - "$WORK/il.out" 2>&1)" || return
	awk -v n=$n 'BEGIN { for (i = 0; i < n; i++) print "e " i }' | cmp -s - "$WORK/il.err" ||
		fail "stderr out of order or lost: $(wc -l <"$WORK/il.err") lines"
}

tap_run "$MIB MiB random data through stdout, checksum" t_stdout_random
tap_run "$MIB MiB random data through stdin, checksum" t_stdin_random
tap_run "10 MiB tty stream, checksum" t_tty_10mib
tap_run "stdout and stderr interleaved keep per-stream order" t_interleaved
echo "# stdio integrity wall time: $(( $(date +%s) - T0 ))s"
tap_done
