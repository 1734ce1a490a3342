#!/usr/bin/env bash
# A hostile QEMU toward vmmon (issue 9): build/test/vmmon-fake-qemu, exec'd
# by vmmon in place of QEMU, completes the QMP handshake and then sends
# garbage, an endless line, or a reply to a command never sent; or ignores
# every command, or fails to start. vmmon must kill it, report the exit, stay up with bounded
# memory and keep answering the shim; a deaf QEMU is SIGKILLed by the
# bounded shutdown sequence.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
top=$PWD
n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); echo "not ok $n - $1"; [ $# -gt 1 ] && echo "# $2"; }
skip_all() { echo "1..1"; tap_skip_all 1 1 "vmmon hostile QMP" "$1"; }

[ "$(id -u)" = 0 ] || skip_all "needs root (vmmon builds its jail as root)"
getent passwd qemubox >/dev/null || skip_all "no user qemubox (run scripts/setup-host)"
VMMON=$top/build/libexec/qemubox-vmmon
DRIVER=$top/build/test/vmmon-driver
FAKE=$top/build/test/vmmon-fake-qemu
for b in "$VMMON" "$DRIVER" "$FAKE"; do
	[ -x "$b" ] || skip_all "$b not built (make)"
done
work=$(mktemp -d)
on_exit 'rm -rf "$work"'
# From the scratch dir (under /tmp, which the jail's tmpfs root covers):
# vmmon must still bind a QEMU that lives there.
chmod 0755 "$work"
cp "$FAKE" "$work/fake-qemu"
FAKE=$work/fake-qemu

# run MODE COMMANDS... : one driver (one vmmon) per mode; output in $out
run() {
	local mode=$1
	shift
	out=$work/$mode.out
	printf '%s\n' "$@" | VMMON_TEST_ID=$mode timeout 60 "$DRIVER" "$VMMON" \
		/dev/null /dev/null "$work/$mode.console" -q "$FAKE" \
		>"$out" 2>"$work/$mode.err"
}

echo "1..10"
for mode in garbage endless unknownid; do
	# The peak RSS of vmmon is read while the fake is still being served.
	run "$mode" "start microvm" "pids" "wait_rss" "status" "close" "wait_vmmon"
	if grep -q "^event exit .*signal=9 reason=5 detail=QMP protocol violation" "$out" &&
		grep -q "^error the VM is not running" "$out"; then
		ok "$mode: vmmon kills that QEMU, reports it, keeps answering"
	else
		nok "$mode: vmmon kills that QEMU, reports it, keeps answering" "$(tr '\n' '|' <"$out")"
	fi
	rss=$(sed -n 's/^rss vmmon=\([0-9]*\).*/\1/p' "$out")
	if [ -n "$rss" ] && [ "$rss" -lt 16384 ]; then
		ok "$mode: vmmon memory stays bounded (VmHWM ${rss} kB)"
	else
		nok "$mode: vmmon memory stays bounded" "VmHWM ${rss:-?} kB"
	fi
done
run fail "start microvm" "close" "wait_vmmon"
if grep -q "^error QEMU exited during start (status 1 signal 0): fake-qemu: -drive id=disk0: Could not open '/dev/fdset/1': Permission denied" "$out"; then
	ok "a QEMU that fails to start: its last stderr line is in the START error"
else
	nok "a QEMU that fails to start: its last stderr line is in the START error" "$(tr '\n' '|' <"$out")"
fi
if grep -q "^event exit .*status=1 signal=0 reason=7 detail=fake-qemu: -drive" "$out" &&
	grep -q "fake-qemu: warming up" "$work/fail.err"; then
	ok "... the exit event says start failed, and QEMU's stderr reaches the log"
else
	nok "... the exit event says start failed, and QEMU's stderr reaches the log" "$(tr '\n' '|' <"$out")"
fi
run deaf "start microvm" "shutdown 500" "close" "wait_vmmon"
if grep -q "^event exit .*signal=9 reason=5 detail=the shutdown steps timed out" "$out" &&
	grep -q "^shutdown ok" "$out"; then
	ok "deaf QEMU: powerdown, quit, then SIGKILL, each bounded"
else
	nok "deaf QEMU: powerdown, quit, then SIGKILL, each bounded" "$(tr '\n' '|' <"$out")"
fi
if grep -q "^vmmon exited status=0" "$out"; then
	ok "vmmon exits cleanly when the shim closes"
else
	nok "vmmon exits cleanly when the shim closes" "$(tr '\n' '|' <"$out")"
fi
