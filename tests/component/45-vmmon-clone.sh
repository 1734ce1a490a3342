#!/usr/bin/env bash
# check() evals its condition strings: shellcheck cannot see those uses.
# shellcheck disable=SC2034
# qemubox-vmmon's clone mode end to end under TCG (issue 19), driven by
# build/test/vmmon-driver (shim/vmmon_client): a template VM boots with its
# RAM in a memfd (ram_mode TEMPLATE), SAVE writes its device state and QEMU
# quits, the driver seals the memfd as qemubox-tmpl does; then new vmmons
# START clones from it (ram_mode CLONE): restored, running and answering on
# a new guest channel before START is answered, the memfd unchanged, the
# clone confined like any VM; a clone's disk is a SCSI LUN attached before
# it runs (the template has the bus, no disk). A truncated state, or a disk
# QEMU refuses, fails START with QEMU's reason and leaves no QEMU; an
# unsealed memfd is refused before QEMU runs.
# (The template half alone: 43-vmmon-template.sh.)
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
top=$PWD
n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); echo "not ok $n - $1"; [ $# -gt 1 ] && echo "# $2"; }
check() { if eval "$2"; then ok "$1"; else nok "$1" "${3:-}"; fi; }
skip_all() { echo "1..1"; tap_skip_all 1 1 "vmmon clone" "$1"; }

. tests/component/lib/vmmon-driver.sh
vmmon_suite_prereqs

work=$(mktemp -d)
drv_pid=""
cleanup() {
	# Only what this test started, by pid.
	[ -n "$drv_pid" ] && kill -KILL "$drv_pid" 2>/dev/null
	for p in $(pgrep -f -- "qemubox-$id" 2>/dev/null); do kill -KILL "$p"; done
	rm -rf "$work"
}
id=vclone-$$-$RANDOM
on_exit cleanup

vmmon_suite_guest

# A clone's TCG code cache is its own setting (runtime.clone_tcg_tb_size_mb),
# the template keeps runtime.tcg_tb_size_mb (default 32). A config file is
# validated whole: share_dir must exist (vmmon does not use it).
printf '{ "paths": { "share_dir": "%s" }, "runtime": { "clone_tcg_tb_size_mb": 24 } }\n' \
	"$work" >"$work/config.json"
export QEMUBOX_CONFIG=$work/config.json
# The template has the SCSI bus for its clones' disks, as qemubox-tmpl's.
export VMMON_TEST_ID=$id VMMON_TEST_TEMPLATE=1 VMMON_TEST_SCSI=1
start_driver "$work/console.log"
qemus() { pgrep -f -- "qemubox-$id" | wc -l; }
accel_of() { tr '\0' '\n' <"/proc/$1/cmdline" | grep -A1 -x -- -accel | tail -n 1; }
printf 'QEMUBOXDISKTEST1' >"$work/disk.img"
truncate -s 1M "$work/disk.img"
mkdir "$work/notafile"

echo "1..13"

# --- the template ---
cmd "start microvm 0 template" 60
check "template: VM started with its RAM in a memfd" '[[ $reply == started* ]]' "$reply"
cmd ready 180
check "template: guest ready" '[[ $reply == ready* ]]' "$reply"
tmpl_accel=$(accel_of "$(pgrep -f -- "qemubox-$id" | head -n 1)")
cmd "save $work/state" 120
state=$(field state "$reply") ram=$(field ram "$reply")
check "template: SAVE wrote the device state only (RAM stays in the memfd), QEMU quit, memfd sealed" \
	'[[ $reply == saved* ]] && [ "$(field seals "$reply")" = OK ] && [ "${state:-0}" -gt 0 ] && [ "$state" -lt 4194304 ] && [ "$ram" = 268435456 ] && [ "$(qemus)" = 0 ]' "$reply"
cmd ramsum
sum0=$reply

# --- clone 1, with a disk ---
cmd respawn
cmd "env VMMON_TEST_DISK=$work/disk.img"
t0=$(date +%s%N)
cmd "start microvm 0 clone $work/state" 90
ms=$((($(date +%s%N) - t0) / 1000000))
qpid=$(field pid "$reply")
check "clone: START answered once restored (${ms} ms)" '[[ $reply == started* ]]' "$reply"
cmd status
check "clone: running, not paused" '[[ $reply == "status running=1 state=running" ]]' "$reply"
cmd guest_cpus 60
check "clone: the restored guest answers on the clone's own channel" '[[ $reply == "guest cpus=1" ]]' "$reply"
check "clone: QEMU confined (uid, no caps, NoNewPrivs, seccomp)" 'confined "$qpid"'
cmd guest_disk 60
check "clone: its disk is LUN 0, attached before it ran: the guest reads its serial and data" \
	'[[ $reply == "guest disk=qb-test-disk QEMUBOXDISKTEST1" ]] && grep -q "clone restored and running (1 disk)" "$work/vmmon.log"' "$reply"
clone_accel=$(accel_of "$qpid")
check "clone: TCG code cache from runtime.clone_tcg_tb_size_mb (24), the template's from tcg_tb_size_mb (32)" \
	'[ "$tmpl_accel" = tcg,tb-size=32 ] && [ "$clone_accel" = tcg,tb-size=24 ]' "template $tmpl_accel, clone $clone_accel"
cmd "shutdown 5000" 60
cmd ramsum
check "clone: the template's memfd is unchanged after the clone ran (private mapping)" \
	'[ "$reply" = "$sum0" ]' "$sum0 -> $reply"

# --- a disk QEMU refuses (a directory): START fails naming it, no QEMU ---
cmd respawn
cmd "env VMMON_TEST_DISK=$work/notafile"
cmd "start microvm 0 clone $work/state" 90
sleep 1
check "a disk QEMU refuses: START fails naming the disk and QEMU's reason, no QEMU left" \
	'[[ $reply == error* ]] && [[ $reply == *"disk 0 (serial qb-test-disk): blockdev-add"*"regular file"* ]] && [ "$(qemus)" = 0 ]' "$reply"
cmd "env VMMON_TEST_DISK="

# --- a truncated state: QEMU's reason, no QEMU left ---
head -c $((state / 2)) "$work/state" >"$work/half"
cmd respawn
cmd "start microvm 0 clone $work/half" 90
sleep 1
check "truncated state: START fails with QEMU's reason, no QEMU left" \
	'[[ $reply == error* ]] && [[ $reply == *"QEMU exited during start"*"load of migration failed"* ]] && [ "$(qemus)" = 0 ]' "$reply"
grep -h "load of migration\|migration" "$work/vmmon.log" | tail -n 2 | sed 's/^/# /'

# --- an unsealed memfd: refused before QEMU runs ---
cmd respawn
cmd "start microvm 0 clone-unsealed $work/state" 60
check "unsealed RAM memfd: START refused, no QEMU started" \
	'[[ $reply == *"not a memfd sealed"* ]] && [ "$(qemus)" = 0 ]' "$reply"
echo "# clone START (QEMU exec + restore + cont): ${ms} ms"
stop_driver
