#!/usr/bin/env bash
# check() evals its condition strings: shellcheck cannot see those uses.
# shellcheck disable=SC2034
# qemubox-vmmon's template mode (issue 19, cloning) under TCG, driven by
# build/test/vmmon-driver: guest RAM in a memfd the driver (standing in for
# the template holder) created, shared with QEMU; SAVE stops the VM, writes
# its device state (no RAM: x-ignore-shared) into a second memfd, quits and
# reaps QEMU; the RAM memfd can then be sealed W|SHRINK|GROW|SEAL (nobody
# maps it shared any more). SAVE of a VM that is no template is refused.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
top=$PWD
n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); echo "not ok $n - $1"; [ $# -gt 1 ] && echo "# $2"; }
check() { if eval "$2"; then ok "$1"; else nok "$1" "${3:-}"; fi; }
skip_all() { echo "1..1"; tap_skip_all 1 1 "vmmon template" "$1"; }

. tests/component/lib/vmmon-driver.sh
vmmon_suite_prereqs

work=$(mktemp -d)
drv_pid="" qpid="" vpid=""
cleanup() {
	for p in $drv_pid $vpid $qpid; do kill -KILL "$p" 2>/dev/null; done
	rm -rf "$work"
}
on_exit cleanup

vmmon_suite_guest

echo "1..11"

# --- a template: boot, save, quit, seal ---
export VMMON_TEST_TEMPLATE=1 VMMON_TEST_SCSI=1
start_driver "$work/console.log"
cmd "start microvm" 60
check "template VM started (ram_mode TEMPLATE, RAM + state memfds staged)" '[[ $reply == started* ]]' "$reply"
qpid=$(field pid "$reply")
cmd pids
vpid=$(field vmmon "$reply")
argv=$(tr '\0' '\n' <"/proc/$qpid/cmdline" 2>/dev/null)
check "QEMU's RAM is the memfd, shared; no free page reporting" \
	'grep -qx "memory-backend-file,id=mem0,size=256M,mem-path=/proc/self/fd/[0-9]*,share=on" <<<"$argv" &&
	 grep -q "free-page-reporting=off" <<<"$argv" && ! grep -q -- "-incoming" <<<"$argv"' "$argv"
check "QEMU maps the memfd (memfd:qb-test-ram in its maps)" \
	'grep -q "memfd:qb-test-ram" "/proc/$qpid/maps"'
check "template QEMU confined like any (uid!=0, no caps, NNP, seccomp)" 'confined "$qpid"'
cmd ready 120
check "template guest ready" '[[ $reply == "ready cpus=1" ]]' "$reply"
t0=$(date +%s%N)
cmd "save $work/state" 90
t1=$(date +%s%N)
echo "# save (stop + migrate + quit + reap): $(((t1 - t0) / 1000000)) ms, $reply"
state=$(field state "$reply") ram=$(field ram "$reply")
check "SAVE answered: device state only (< 4 MiB), RAM 256 MiB in the memfd" \
	'[[ $reply == saved* ]] && [ "$state" -gt 0 ] && [ "$state" -lt 4194304 ] && [ "$ram" = 268435456 ]' "$reply"
check "the state is a QEMU migration stream (QEVM magic) of the size reported" \
	'[ "$(head -c 4 "$work/state")" = QEVM ] && [ "$(stat -c %s "$work/state")" = "$state" ]'
ev=$(printf '%s\n' "${events[@]}" | grep '^event exit' || true)
check "QEMU quit on the host's request and was reaped before SAVE_RES" \
	'[[ $ev == *"reason=4 detail=host-qmp-quit"* ]] && ! kill -0 "$qpid" 2>/dev/null' "$ev"
check "the RAM memfd seals W|SHRINK|GROW|SEAL once QEMU is gone" \
	'[[ $reply == *"seals=OK" ]]' "$reply"
cmd pause
check "the saved template never runs again: pause refused" '[[ $reply == error* ]]' "$reply"
stop_driver
unset VMMON_TEST_TEMPLATE VMMON_TEST_SCSI

# --- SAVE of an ordinary VM: answered with a refusal, the VM runs on ---
start_driver "$work/console-anon.log"
cmd "start microvm" 60
qpid=$(field pid "$reply")
cmd save 30
r1=$reply
cmd status 30
check "SAVE refused unless the VM is a template; it keeps running" \
	'[[ $r1 == "error save: the VM was not started in template mode"* ]] && [[ $reply == "status running=1"* ]]' "$r1 / $reply"
cmd close
stop_driver
