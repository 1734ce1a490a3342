#!/usr/bin/env bash
# check() evals its condition strings: shellcheck cannot see those uses.
# shellcheck disable=SC2034
# qemubox-vmmon end to end under TCG, driven by a C stand-in for the shim
# (build/test/vmmon-driver, which uses shim/vmmon_client). Shows: the guest
# boots from pre-opened fds and its ready line arrives on the channel;
# pause/continue; vmmon and QEMU run as the vmmon user with no capabilities,
# NoNewPrivs and seccomp, in a jail without the host's /etc; the console log
# is capped; vCPU and memory hot-add on q35 (the guest sees the CPU);
# shutdown; closing the shim's end leaves no QEMU; vmmon's two seccomp
# filters kill a forbidden syscall.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
top=$PWD
n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); echo "not ok $n - $1"; [ $# -gt 1 ] && echo "# $2"; }
check() { if eval "$2"; then ok "$1"; else nok "$1" "${3:-}"; fi; }
skip_all() { echo "1..1"; tap_skip_all 1 1 "vmmon" "$1"; }

. tests/component/lib/vmmon-driver.sh
HELPER=$top/build/test/vmmon-seccomp-helper
vmmon_suite_prereqs "$HELPER"

work=$(mktemp -d)
drv_pid="" qpid="" vpid=""
cleanup() {
	# Only what this test started, by pid.
	for p in $drv_pid $vpid $qpid; do kill -KILL "$p" 2>/dev/null; done
	rm -rf "$work"
}
on_exit cleanup

vmmon_suite_guest


echo "1..37"

# --- microvm: boot, disk + NIC, confinement, pause/continue, console cap,
# shutdown ---
printf 'QEMUBOXDISKTEST1' >"$work/disk.img"
truncate -s 1M "$work/disk.img"
export VMMON_TEST_DISK=$work/disk.img VMMON_TEST_TAP=1
start_driver "$work/console.log"
t0=$(date +%s.%N)
cmd "start microvm 4096" 60
check "microvm: VM started from pre-opened fds" '[[ $reply == started* ]]' "$reply"
qpid=$(field pid "$reply")
cmd pids
vpid=$(field vmmon "$reply")
cmd ready 120
t1=$(date +%s.%N)
check "microvm: guest ready line on the virtio-serial channel" '[[ $reply == "ready cpus=1" ]]' "$reply"
echo "# start -> guest ready: $(awk -v a="$t0" -v b="$t1" "BEGIN { printf \"%.2f\", b - a }") s"
check "vmmon: uid!=0, CapEff/CapPrm/CapBnd 0, NoNewPrivs 1, Seccomp 2" 'confined "$vpid"' \
	"$(grep -E '^(Uid|Cap|NoNew|Seccomp)' /proc/$vpid/status 2>&1 | tr '\n' ' ')"
check "QEMU: uid!=0, CapEff/CapPrm/CapBnd 0, NoNewPrivs 1, Seccomp 2" 'confined "$qpid"' \
	"$(grep -E '^(Uid|Cap|NoNew|Seccomp)' /proc/$qpid/status 2>&1 | tr '\n' ' ')"
check "QEMU's environment is only G_SLICE=always-malloc (nothing of vmmon's)" \
	'[ "$(tr "\0" "\n" <"/proc/$qpid/environ")" = G_SLICE=always-malloc ]' "$(tr '\0' ' ' <"/proc/$qpid/environ")"
check "QEMU runs as vmmon's user" \
	'[ "$(awk "/^Uid:/ {print \$2}" /proc/$qpid/status)" = "$(id -u qemubox)" ]'
check "QEMU cannot see the host's /etc (no /etc/shadow in its root)" \
	'[ ! -e /proc/$qpid/root/etc/shadow ] && [ ! -e /proc/$qpid/root/etc ] && [ -e /proc/$qpid/root/usr/share/qemu ]'
check "QEMU's argv names no host path but its binary and -L" \
	'! tr "\0" "\n" </proc/$qpid/cmdline | tail -n +2 | awk "prev == \"-L\" {prev = \$0; next} {print; prev = \$0}" | grep -v -e "^/proc/self/fd/" -e "^file=/dev/fdset/" -e "^file,id=console,path=/proc/self/fd/[0-9]*$" | grep -q /'
check "QEMU gets -L /usr/share/qemu (paths.qemu_share_path, bound in the jail)" \
	'[ "$(tr "\0" "\n" </proc/$qpid/cmdline | grep -x -A1 -- -L | tail -n 1)" = /usr/share/qemu ]'
cmd guest_disk
check "read-only disk from an fd set: the guest reads its serial and data" \
	'[[ $reply == "guest disk=qb-test-disk QEMUBOXDISKTEST1" ]]' "$reply"
cmd guest_net
check "TAP fd: the guest has eth0 with the MAC we chose" \
	'[[ $reply == "guest mac=02:00:00:00:00:01" ]]' "$reply"
cmd "disk_add 0 ro qb-hot-0 $work/disk.img" 30
check "disk hot-add refused in a VM started without the pod's SCSI bus" \
	'[[ $reply == "error"*"without hotplug_disks"* ]]' "$reply"
cmd pause
cmd status
check "pause: QEMU reports paused" '[[ $reply == "status running=0 state=paused" ]]' "$reply"
cmd resume
cmd status
check "continue: QEMU reports running" '[[ $reply == "status running=1 state=running" ]]' "$reply"
cmd "shutdown 5000" 60
check "shutdown answered" '[[ $reply == "shutdown ok" ]]' "$reply"
ev=$(printf '%s\n' "${events[@]}" | grep '^event exit' || true)
check "exit event reports the guest powered off (ACPI)" '[[ $ev == *"reason=1 detail=guest-shutdown"* ]]' "$ev"
check "no QEMU left after shutdown" '! kill -0 "$qpid" 2>/dev/null'
size=$(stat -c %s "$work/console.log")
check "console.log capped (4096 bytes + marker: $size)" \
	'[ "$size" -le 4200 ] && grep -q "Linux version" "$work/console.log" && grep -q "size cap reached" "$work/console.log"'
eval "exec ${DRV[1]}>&-"
wait "$drv_pid" 2>/dev/null
drv_pid=

# --- q35: CPU and memory hotplug, then the shim goes away ---
unset VMMON_TEST_DISK VMMON_TEST_TAP
start_driver "$work/console-q35.log"
cmd "start q35" 60
check "q35: VM started" '[[ $reply == *"machine=2"* ]]' "$reply"
qpid=$(field pid "$reply")
cmd pids
vpid=$(field vmmon "$reply")
cmd ready 120
check "q35: guest ready" '[[ $reply == "ready cpus=1" ]]' "$reply"
# No console byte lost: the kernel echoes its command line early, in the
# burst it replays when ttyS0 comes up, and every printk line starts with
# a "[seconds.micros]" stamp. With the console on a socket read in 100 ms
# batches, QEMU dropped bytes from that burst.
append=$(tr "\0" "\n" </proc/$qpid/cmdline | grep -x -A1 -- -append | tail -n 1)
cl=$(grep -m1 "\] Command line: " "$work/console-q35.log" | tr -d "\r" | sed "s/^\[[^]]*\] //")
check "console.log holds the kernel's whole boot log: command line intact, every printk stamp whole" \
	'[ "$cl" = "Command line: $append" ] && [ "$(grep -c "^\[" "$work/console-q35.log")" -gt 100 ] &&
	 ! grep "^\[" "$work/console-q35.log" | grep -qvE "^\[ *[0-9]+\.[0-9]{6}\] "' \
	"console: $cl / argv: $append / $(grep -c "^\[" "$work/console-q35.log") lines / $(grep "^\[" "$work/console-q35.log" | grep -vE "^\[ *[0-9]+\.[0-9]{6}\] " | head -3)"
cmd cpu_add 60
check "hot-add a vCPU (QMP device_add from a free slot)" '[[ $reply == "cpu present=2 max=2 dev=qbcpu"* ]]' "$reply"
seen=0
for _ in $(seq 1 30); do
	cmd guest_cpus 60
	[[ $reply == "guest cpus=2" ]] && { seen=1; break; }
	sleep 2
done
check "the guest sees the hot-added vCPU ($reply)" '[ $seen = 1 ]'
# Under TCG, QEMU 7.2 aborts (heap corruption) soon after a vCPU unplug,
# also without qemubox: vmmon refuses rather than lose the sandbox.
cmd cpu_del 90
check "vCPU hot-remove refused under TCG" '[[ $reply == "error vCPU hot-unplug is disabled under TCG"* ]]' "$reply"
cmd cpu_query 30
check "... and the vCPU is still there" '[[ $reply == "cpu present=2 max=2"* ]]' "$reply"
cmd "mem_add 128" 60
check "hot-add 128 MiB (memory-backend-ram + pc-dimm)" '[[ $reply == "mem base=268435456 plugged=134217728" ]]' "$reply"
cmd close
t0=$(date +%s)
while kill -0 "$qpid" 2>/dev/null && [ $(($(date +%s) - t0)) -lt 10 ]; do sleep 0.2; done
check "closing the shim's end: QEMU is gone" '! kill -0 "$qpid" 2>/dev/null'
check "closing the shim's end: vmmon is gone" '! kill -0 "$vpid" 2>/dev/null || grep -q zombie /proc/$vpid/status 2>/dev/null'
eval "exec ${DRV[1]}>&-"
wait "$drv_pid" 2>/dev/null
drv_pid=

# --- a pod's VM: disks hot-added as SCSI LUNs, every request checked ---
export VMMON_TEST_SCSI=1
start_driver "$work/console-pod.log"
cmd "start microvm" 60
qpid=$(field pid "$reply")
cmd pids
vpid=$(field vmmon "$reply")
cmd ready 120
check "pod VM (microvm + virtio-scsi) ready" '[[ $reply == "ready cpus=1" ]]' "$reply"
cmd "disk_add 0 ro qb-hot-0 $work/disk.img" 30
check "hot-add: add-fd + blockdev-add + device_add scsi-hd on microvm" \
	'[[ $reply == "disk lun=0 dev=hdev0" ]]' "$reply"
# (Another file: QEMU's image locking refuses a writer next to a reader.)
truncate -s 1M "$work/disk-rw.img"
cmd "disk_add 1 rw qb-hot-1 $work/disk-rw.img" 30
check "a second, writable disk on the next LUN" '[[ $reply == "disk lun=1 dev=hdev1" ]]' "$reply"
cmd "disk_del 0" 60
check "hot-remove: device_del, DEVICE_DELETED, blockdev-del, remove-fd" \
	'[[ $reply == "disk lun=0 dev=hdev0" ]] && printf "%s\n" "${events[@]}" | grep -q "hdev0"' "$reply"
cmd "disk_add 0 ro qb-hot-2 $work/disk.img" 30
check "the LUN is reusable, vmmon and QEMU alive" \
	'[[ $reply == "disk lun=0 dev=hdev0" ]] && kill -0 "$vpid" && kill -0 "$qpid"' "$reply"
# The shim knows the fd it opened: a mismatch is a protocol violation
# (validated before any QMP command; the other cases: test_vmmon_validate).
cmd "disk_add 2 ro-as-rw qb-hot-3 $work/disk.img" 30
t0=$(date +%s)
while kill -0 "$qpid" 2>/dev/null && [ $(($(date +%s) - t0)) -lt 10 ]; do sleep 0.2; done
check "a read-only disk sent as an O_RDWR fd: vmmon drops the shim, QEMU is gone" \
	'! kill -0 "$qpid" 2>/dev/null && grep -q "access mode" "$work/vmmon.log"' "$reply"
cmd close
eval "exec ${DRV[1]}>&-"
wait "$drv_pid" 2>/dev/null
drv_pid=
unset VMMON_TEST_SCSI

# --- seccomp really enforces ---
sigsys=$((128 + 31))
{ "$HELPER" vmmon socket-inet; } 2>/dev/null; r1=$?
{ "$HELPER" vmmon ptrace; } 2>/dev/null; r2=$?
{ "$HELPER" vmmon openat; } 2>/dev/null; r3=$?
{ "$HELPER" vmmon getpid; } 2>/dev/null; r4=$?
check "vmmon filter: socket(AF_INET), ptrace, openat killed by SIGSYS; getpid allowed" \
	'[ $r1 = $sigsys ] && [ $r2 = $sigsys ] && [ $r3 = $sigsys ] && [ $r4 = 0 ]' "$r1 $r2 $r3 $r4"
{ "$HELPER" qemu socket-inet; } 2>/dev/null; r1=$?
{ "$HELPER" qemu ptrace; } 2>/dev/null; r2=$?
{ "$HELPER" qemu socket-unix; } 2>/dev/null; r3=$?
check "QEMU filter: socket(AF_INET), ptrace killed by SIGSYS; AF_UNIX allowed" \
	'[ $r1 = $sigsys ] && [ $r2 = $sigsys ] && [ $r3 = 0 ]' "$r1 $r2 $r3"
# kill(2): vmmon only its QEMU (here getpid() + 1), QEMU only itself.
{ "$HELPER" vmmon kill-child; } 2>/dev/null; r1=$?
{ "$HELPER" vmmon kill-parent; } 2>/dev/null; r2=$?
{ "$HELPER" qemu kill-self; } 2>/dev/null; r3=$?
{ "$HELPER" qemu kill-parent; } 2>/dev/null; r4=$?
check "kill(2): vmmon may signal its QEMU only, QEMU itself only (others: SIGSYS)" \
	'[ $r1 = 0 ] && [ $r2 = $sigsys ] && [ $r3 = 0 ] && [ $r4 = $sigsys ]' "$r1 $r2 $r3 $r4"
