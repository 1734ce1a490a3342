#!/usr/bin/env bash
# A shim that breaks the protocol toward vmmon (issue 22; the policy is
# "A bad peer" in imsg/qemubox_imsg.h): a request out of order (the permit
# table of vmmon/vmmon_validate.c), of the wrong size, with a stray fd, of
# an unknown type, or with a value out of range is never answered: vmmon
# logs the violation, kills and reaps its QEMU and exits 1, so the shim
# loses the sandbox. A well-formed request the VM cannot serve is still
# answered. QEMU is build/test/vmmon-fake-qemu ("deaf": it completes the
# QMP handshake and ignores commands), so no guest boots.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
top=$PWD
n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); echo "not ok $n - $1"; [ $# -gt 1 ] && echo "# $2"; }
skip_all() { echo "1..1"; tap_skip_all 1 1 "vmmon hostile shim" "$1"; }

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
chmod 0755 "$work"
cp "$FAKE" "$work/fake-qemu"
FAKE=$work/fake-qemu

# imsg types (imsg/qemubox_imsg.h)
FD_REQ=201 START_REQ=202 STATUS_REQ=204

# run NAME COMMANDS... : one driver (one vmmon, fake QEMU "deaf")
run() {
	local name=$1
	shift
	out=$work/$name.out
	err=$work/$name.err
	printf '%s\n' "$@" | VMMON_TEST_ID=deaf timeout 60 "$DRIVER" "$VMMON" \
		/dev/null /dev/null "$work/$name.console" -q "$FAKE" \
		>"$out" 2>"$err"
}

# killed NAME WHY [running]: vmmon exited 1 without answering, logged WHY;
# with "running", the QEMU it had started is gone too.
killed() {
	local name=$1 why=$2 qemu
	if ! grep -q "^vmmon exited status=1" "$out"; then
		nok "$name: vmmon exits 1" "$(tr '\n' '|' <"$out")"
		return
	fi
	# The client failing its pending request when vmmon goes is no answer.
	if grep "^error" "$out" | grep -vq "closed the channel"; then
		nok "$name: no answer to a violation" "$(tr '\n' '|' <"$out")"
		return
	fi
	if ! grep -q "protocol violation: $why" "$err"; then
		nok "$name: vmmon logs '$why'" "$(tail -3 "$err" | tr '\n' '|')"
		return
	fi
	if [ "${3:-}" = running ]; then
		qemu=$(sed -n 's/^pids vmmon=[0-9]* qemu=\([0-9]*\).*/\1/p' "$out")
		if [ -z "$qemu" ] || [ "$qemu" -le 0 ] || kill -0 "$qemu" 2>/dev/null; then
			nok "$name: its QEMU is gone" "qemu=${qemu:-?} $(tr '\n' '|' <"$out")"
			return
		fi
	fi
	ok "$name: connection killed, not answered ($why)"
}

echo "1..10"

run early-status "raw $STATUS_REQ 0" "wait_vmmon"
killed "STATUS before START" "request out of order"

run fd-without-fd "raw $FD_REQ 8" "wait_vmmon"
killed "FD_REQ without an fd" "fd missing"

run start-stray-fd "raw $START_REQ 8 fd" "wait_vmmon"
killed "wrong-size START with a stray fd" "wrong payload size"

run start-zeros "raw $START_REQ start" "wait_vmmon"
killed "START of zeros (no id, no fds)" "start: id"

run second-start "start microvm" "pids" "raw $START_REQ start" "wait_vmmon"
killed "a START while running" "request out of order" running

run late-fd "start microvm" "pids" "raw $FD_REQ 8 fd" "wait_vmmon"
killed "FD_REQ after START" "request out of order" running

run bad-size "start microvm" "pids" "raw $STATUS_REQ 4" "wait_vmmon"
killed "STATUS with a payload" "wrong payload size" running

run unknown "start microvm" "pids" "raw 250 0" "wait_vmmon"
killed "unknown type 250" "unexpected message type" running

run mem-value "start microvm" "pids" "mem_add 100" "wait_vmmon"
killed "MEM_ADD of 100 MiB (not a multiple of 128)" "mem_add: size" running

# Still answered: well-formed, in order, but the VM cannot do it.
run refused "start microvm" "cpu_add" "shutdown 300" "status" "close" "wait_vmmon"
if grep -q "^error hotplug needs machine q35" "$out" &&
	grep -q "^shutdown ok" "$out" && grep -q "^error the VM is not running" "$out" &&
	grep -q "^vmmon exited status=0" "$out"; then
	ok "refusals the shim cannot foresee are answered and vmmon stays up"
else
	nok "refusals the shim cannot foresee are answered and vmmon stays up" "$(tr '\n' '|' <"$out")"
fi
