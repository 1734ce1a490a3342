# shellcheck shell=bash
# Plumbing of the suites that drive qemubox-vmmon through
# build/test/vmmon-driver (40-vmmon, 43-vmmon-template, 45-vmmon-clone):
# their common prerequisites and test guest, and one command, one answer
# line; events are collected in ${events[@]}. The caller sets top and work
# (its mktemp -d) and defines ok/nok/check/skip_all (skip_all exits).

# root, QEMU, the vmmon user, and the binaries: VMMON, DRIVER and any named.
vmmon_suite_prereqs() {
	local b
	[ "$(id -u)" = 0 ] || skip_all "needs root (vmmon builds its jail as root)"
	command -v qemu-system-x86_64 >/dev/null || skip_all "no qemu-system-x86_64"
	getent passwd qemubox >/dev/null || skip_all "no user qemubox (run scripts/setup-host)"
	VMMON=$top/build/libexec/qemubox-vmmon
	DRIVER=$top/build/test/vmmon-driver
	for b in "$VMMON" "$DRIVER" "$@"; do
		[ -x "$b" ] || skip_all "$b not built (make)"
	done
}

# The test guest (tests/component/lib/vmmon-testguest.sh) in $work/guest.
vmmon_suite_guest() {
	tests/component/lib/vmmon-testguest.sh "$work/guest" >"$work/guest.log" 2>&1 ||
		skip_all "cannot build the test guest: $(tail -1 "$work/guest.log")"
}

start_driver() { # console.log path
	coproc DRV { exec "$DRIVER" "$VMMON" "$work/guest/kernel" \
		"$work/guest/initrd" "$1" 2>>"$work/vmmon.log"; }
	drv_pid=$DRV_PID
	events=()
}
cmd() { # command, timeout -> $reply
	echo "$1" >&"${DRV[1]}"
	reply=
	while IFS= read -r -t "${2:-60}" line <&"${DRV[0]}"; do
		case $line in
		event*) events+=("$line") ;;
		*) reply=$line; return 0 ;;
		esac
	done
	reply="timeout"
	return 1
}
stop_driver() {
	eval "exec ${DRV[1]}>&-"
	wait "$drv_pid" 2>/dev/null
	drv_pid=
}
field() { # key, line
	sed -n "s/.*\b$1=\([^ ]*\).*/\1/p" <<<"$2"
}
status_of() { # pid, key
	awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"
}
confined() { # pid: uid != 0, no capability, NoNewPrivs, seccomp filter
	local pid=$1 uid
	uid=$(awk '/^Uid:/ {print $2}' "/proc/$pid/status")
	[ "$uid" != 0 ] && [ "$(status_of "$pid" CapEff)" = 0000000000000000 ] &&
		[ "$(status_of "$pid" CapPrm)" = 0000000000000000 ] &&
		[ "$(status_of "$pid" CapBnd)" = 0000000000000000 ] &&
		[ "$(status_of "$pid" NoNewPrivs)" = 1 ] &&
		[ "$(status_of "$pid" Seccomp)" = 2 ]
}
