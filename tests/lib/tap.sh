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
#
# TAP_ONLY="t_a t_b" runs only the tests whose FUNC is listed (while working
# on one test; a suite's later tests may rely on earlier ones).
#
# Skips. A reason is either a host capability that cannot exist on some
# machines (made with tap_host_cap; the kinds are listed in TAP_HOST_CAPS),
# or anything else: a missing package or tool, an unbuilt file, no root, a
# set-up that failed. Under CI=true only the first kind may skip; the others
# fail, so a CI cannot hide a missing package. Every skip goes through
# tap_skip_allowed; tests/run applies the same rule to the TAP it reads.
#
#   tap_host_cap CAP WHY  print the reason text "host capability CAP: WHY"
#   tap_skip_allowed WHY  status 0 when a test may skip for WHY here
#   tap_skip_line N NAME WHY   for suites that number their own lines: print
#                         "ok N - NAME # SKIP WHY", or "not ok N - NAME" under
#                         CI=true when WHY may not skip (then status 1)
#   tap_skip_all FIRST LAST NAME WHY   tap_skip_line for FIRST..LAST, then
#                         exit (status 1 when one of them failed)

. "$(dirname "${BASH_SOURCE[0]}")/onexit.sh"
TAP_N=0
TAP_FAILED=0
TAP_SKIP_REASON=

TAP_HOST_CAPS="kvm vhost-vsock landlock"

tap_host_cap() {
	case " $TAP_HOST_CAPS " in
	*" $1 "*) echo "host capability $1: $2" ;;
	*) echo "tap_host_cap: $1 is not a host capability ($TAP_HOST_CAPS)" ;;
	esac
}

tap_skip_allowed() {
	local c
	[ "${CI:-}" = true ] || return 0
	for c in $TAP_HOST_CAPS; do
		case "$1" in "host capability $c: "*) return 0 ;; esac
	done
	return 1
}

tap_skip() {
	if tap_skip_allowed "$*"; then
		echo "$*" >"${TAP_SKIP_FILE:-/dev/null}"
		exit 77
	fi
	echo "# CI=true: not a host capability, so not a skip: $*" >&2
	exit 1
}

tap_skip_line() {
	if tap_skip_allowed "$3"; then
		echo "ok $1 - $2 # SKIP $3"
		return 0
	fi
	echo "not ok $1 - $2"
	echo "#   CI=true: not a host capability, so not a skip: $3"
	return 1
}

tap_skip_all() {
	local i rc=0
	for i in $(seq "$1" "$2"); do tap_skip_line "$i" "$3" "$4" || rc=1; done
	exit $rc
}

fail() { echo "# $*" >&2; return 1; }

tap_run() {
	local name=$1 fn=$2 out t0 t1 rc
	case " ${TAP_ONLY:-$fn} " in *" $fn "*) ;; *) return 0 ;; esac
	TAP_N=$((TAP_N + 1))
	TAP_SKIP_REASON=
	out=$(mktemp)
	TAP_SKIP_FILE=$out.skip
	export TAP_SKIP_FILE
	t0=$(date +%s.%N)
	# Each test runs in its own process group with a time bound
	# (TAP_TIMEOUT, default 300 s), so a hang fails that test only.
	# The watchdog is a process group of its own too, stopped with KILL:
	# a subshell TERMed before it has reset its inherited traps would run
	# the suite's EXIT trap (tests/lib/onexit.sh), and a fast test ends
	# before its watchdog got that far.
	set -m
	( "$fn" ) >"$out" 2>&1 &
	local pid=$!
	( sleep "${TAP_TIMEOUT:-300}"; kill -TERM -- -"$pid" 2>/dev/null; sleep 2;
	  kill -KILL -- -"$pid" 2>/dev/null ) >/dev/null 2>&1 &
	local dog=$!
	set +m
	wait "$pid"
	rc=$?
	kill -KILL -- -"$dog" 2>/dev/null || kill -KILL "$dog" 2>/dev/null
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
