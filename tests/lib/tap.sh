# shellcheck shell=bash
# TAP output for shell test suites (source this file).
#
#   tap_run NAME FUNC     run FUNC; "ok N - NAME (1.2s)" when it returns 0,
#                         "not ok N - NAME" and its output when it fails,
#                         "ok N - NAME # SKIP why" when it calls tap_skip
#   tap_skip WHY          inside a test: skip it with a reason (it runs in a
#                         subshell, so it reports by exiting with status 77)
#   tap_done              print the plan line; exit 1 if any test failed
#   fail MSG              inside a test: report why and return 1 (use `|| return`)

TAP_N=0
TAP_FAILED=0
TAP_SKIP_REASON=

tap_skip() { echo "$*" >"${TAP_SKIP_FILE:-/dev/null}"; exit 77; }

fail() { echo "# $*" >&2; return 1; }

tap_run() {
	local name=$1 fn=$2 out t0 t1 rc
	TAP_N=$((TAP_N + 1))
	TAP_SKIP_REASON=
	out=$(mktemp)
	TAP_SKIP_FILE=$out.skip
	export TAP_SKIP_FILE
	t0=$(date +%s.%N)
	# Each test runs in its own process group with a time bound
	# (TAP_TIMEOUT, default 300 s), so a hang fails that test only.
	set -m
	( "$fn" ) >"$out" 2>&1 &
	local pid=$!
	set +m
	( sleep "${TAP_TIMEOUT:-300}"; kill -TERM -- -"$pid" 2>/dev/null; sleep 2;
	  kill -KILL -- -"$pid" 2>/dev/null ) >/dev/null 2>&1 &
	local dog=$!
	wait "$pid"
	rc=$?
	kill "$dog" 2>/dev/null
	wait "$dog" 2>/dev/null
	[ "$rc" -ge 128 ] && echo "# timed out or killed (status $rc)" >>"$out"
	t1=$(date +%s.%N)
	local secs
	secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
	if [ "$rc" -eq 77 ]; then
		TAP_SKIP_REASON=$(cat "$TAP_SKIP_FILE" 2>/dev/null)
		echo "ok $TAP_N - $name # SKIP ${TAP_SKIP_REASON:-no reason given}"
	elif [ -n "$TAP_SKIP_REASON" ]; then
		echo "ok $TAP_N - $name # SKIP $TAP_SKIP_REASON"
	elif [ "$rc" -eq 0 ]; then
		echo "ok $TAP_N - $name (${secs}s)"
	else
		TAP_FAILED=$((TAP_FAILED + 1))
		echo "not ok $TAP_N - $name (${secs}s)"
		sed 's/^/#   /' "$out" | tail -n 40
	fi
	rm -f "$out" "$out.skip"
}

tap_done() {
	echo "1..$TAP_N"
	[ "$TAP_FAILED" -eq 0 ]
}
