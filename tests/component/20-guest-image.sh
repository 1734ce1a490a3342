#!/usr/bin/env bash
# Guest image: the initrd holds exactly the manifest, builds reproducibly, and
# boots under QEMU TCG (microvm) to vminitd's ready line; the guest opens the
# host channel (virtio-serial port qemubox.0 on a unix socket; the guest API
# component test speaks ttrpc on it), crun runs in the guest root, and closing the channel powers the VM off (QEMU exits 0).
# Needs `make guest` first (make all / make check do it).
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh

G=build/guest
KERNEL=$G/qemubox-kernel-x86_64
INITRD=$G/qemubox-initrd
# The test image's PID 1: vminitd plus the crun self-test
# (tests/component/vminitd_selftest.c; production vminitd lacks it).
SELFTEST=build/test/vminitd-selftest
BOOT_BOUND=${QB_TEST_BOOT_BOUND:-90}	# s, TCG on 2 shared cores
OFF_BOUND=${QB_TEST_OFF_BOUND:-30}	# s, channel EOF -> QEMU exit

n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); echo "not ok $n - $1"; }
skip() { n=$((n + 1)); tap_skip_line "$n" "$1" "$2"; }
check() { if [ "$1" -eq 0 ]; then ok "$2"; else notok "$2"; fi; }

echo "1..13"
missing=""
for f in "$KERNEL" "$INITRD" "$G/vminitd" "$G/kernel.version" "$SELFTEST"; do
	[ -e "$f" ] || missing="$missing $f"
done
for t in cpio qemu-system-x86_64 socat jq; do
	command -v "$t" >/dev/null || missing="$missing $t"
done
if [ -n "$missing" ]; then
	for name in "initrd file list equals guest/initrd.manifest" \
	    "initrd build is reproducible" "initrd entries owned 0:0, mtime 0" \
	    "guest boots to ready" "guest set-up logs no warning" "guest opens the host channel" "crun runs a container in the guest" \
	    "channel EOF powers off, QEMU exits 0" "second boot to ready" \
	    "ACPI system_powerdown powers off, QEMU exits 0" "q35 boot to ready" \
	    "q35: channel EOF powers off, QEMU exits 0" \
	    "production vminitd holds no self-test"; do
		skip "$name" "missing:$missing (run make all)" || rc=1
	done
	exit "${rc:-0}"
fi

tmp=$(mktemp -d)
qemu_pid="" socat_pid=""
# stop PID: TERM, then KILL after 5 s, and reap it.
stop() {
	local i
	kill "$1" 2>/dev/null || return 0
	for i in $(seq 50); do
		kill -0 "$1" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$1" 2>/dev/null
	wait "$1" 2>/dev/null
}
cleanup() {
	exec 7>&- 2>/dev/null
	[ -n "$socat_pid" ] && stop "$socat_pid"
	[ -n "$qemu_pid" ] && stop "$qemu_pid"
	rm -rf "$tmp"
}
on_exit cleanup
trap 'exit 130' INT TERM

kver=$(cat "$G/kernel.version")

# 1. exact file list
sed -e '/^#/d' -e "s/@KVER@/$kver/g" guest/initrd.manifest >"$tmp/want"
cpio -t --quiet <"$INITRD" >"$tmp/got" 2>/dev/null
if diff -u "$tmp/want" "$tmp/got" >"$tmp/diff"; then
	ok "initrd file list equals guest/initrd.manifest"
else
	sed 's/^/# /' "$tmp/diff"
	notok "initrd file list equals guest/initrd.manifest"
fi

# 2. same inputs, same bytes
rc=0
for i in 1 2; do
	guest/mkinitrd.sh "$G/vminitd" "$G/kroot" "$kver" guest/modules.list \
	    "${CRUN:-/usr/bin/crun}" "$tmp/initrd.$i" || rc=1
done
[ "$rc" -eq 0 ] && cmp -s "$tmp/initrd.1" "$tmp/initrd.2" || rc=1
check $rc "initrd build is reproducible"

# 3. fixed metadata (cpio -tv: mode links uid gid size date name)
bad=$(TZ=UTC cpio -tv --numeric-uid-gid --quiet <"$INITRD" 2>/dev/null |
    awk '$3 != 0 || $4 != 0 || !($6 == "Jan" && $7 == 1 && $8 == 1970)' | head -3)
[ -z "$bad" ]
check $? "initrd entries owned 0:0, mtime 0"
[ -n "$bad" ] && echo "$bad" | sed 's/^/# /'

# The first boot runs the self-test image: same kernel, modules and crun.
guest/mkinitrd.sh "$SELFTEST" "$G/kroot" "$kver" guest/modules.list \
    "${CRUN:-/usr/bin/crun}" "$tmp/initrd.selftest" >/dev/null 2>&1 ||
    : >"$tmp/initrd.selftest"

# 4-9. boots
# microvm under TCG needs the host TSC frequency (HOST-FACTS.md).
khz=$(awk -F': *' '/^cpu MHz/ { printf "%d", $2 * 1000; exit }' /proc/cpuinfo)
[ -n "$khz" ] && [ "$khz" -gt 0 ] || khz=2000000

# boot_vm NAME MACHINE EXTRA_CMDLINE [INITRD]: QEMU in the background with the channel on a
# unix socket (socat holds the host end, fd 7 writes to the guest) and a QMP
# socket; sets qemu_pid, socat_pid, console, ready, wall.
boot_vm() {
	local name=$1 machine=$2 extra=$3 initrd=${4:-$INITRD} bus t0 deadline
	sock=$tmp/$name.chan
	qmp=$tmp/$name.qmp
	console=$tmp/$name.console
	from_guest=$tmp/$name.from_guest
	: >"$console"
	bus=device
	[ "$machine" = q35 ] && bus=pci
	t0=$(date +%s%N)
	qemu-system-x86_64 -machine "$machine" -accel tcg -m 512M -smp 1 \
	    -nodefaults -no-user-config -nographic -no-reboot \
	    -kernel "$KERNEL" -initrd "$initrd" \
	    -append "console=ttyS0 quiet panic=-1 tsc_early_khz=$khz tsc=reliable cryptomgr.notests $extra" \
	    -serial "file:$console" \
	    -qmp "unix:$qmp,server=on,wait=off" \
	    -device "virtio-serial-$bus" \
	    -chardev "socket,id=chan,path=$sock,server=on,wait=on" \
	    -device virtserialport,chardev=chan,name=qemubox.0 \
	    >"$tmp/$name.qemu.out" 2>&1 &
	qemu_pid=$!
	# QEMU waits for the host end before the guest runs.
	for _ in $(seq 100); do
		[ -S "$sock" ] && break
		sleep 0.1
	done
	mkfifo "$tmp/$name.to_guest"
	socat -t 5 - "UNIX-CONNECT:$sock" <"$tmp/$name.to_guest" \
	    >"$from_guest" 2>"$tmp/$name.socat.err" &
	socat_pid=$!
	exec 7>"$tmp/$name.to_guest"
	ready=""
	deadline=$(($(date +%s) + BOOT_BOUND))
	while [ "$(date +%s)" -lt "$deadline" ]; do
		ready=$(grep -ao 'vminitd: ready in [0-9]* ms' "$console" | head -1)
		[ -n "$ready" ] && break
		kill -0 "$qemu_pid" 2>/dev/null || break
		sleep 0.2
	done
	wall=$((($(date +%s%N) - t0) / 1000000))
	ready=${ready#vminitd: ready in }
}

# wait_qemu_exit: rc of QEMU within OFF_BOUND (empty on timeout); t in ms.
wait_qemu_exit() {
	local t1
	t1=$(date +%s%N)
	qrc=""
	while [ $((($(date +%s%N) - t1) / 1000000000)) -lt "$OFF_BOUND" ]; do
		if ! kill -0 "$qemu_pid" 2>/dev/null; then
			wait "$qemu_pid"
			qrc=$?
			qemu_pid=""
			break
		fi
		sleep 0.1
	done
	off_ms=$((($(date +%s%N) - t1) / 1000000))
	# Past the bound: a failure, and the next boot must not inherit it.
	if [ -n "$qemu_pid" ]; then
		stop "$qemu_pid"
		qemu_pid=""
	fi
	exec 7>&-
	[ -n "$socat_pid" ] && stop "$socat_pid"
	socat_pid=""
}

boot_vm one microvm "" "$tmp/initrd.selftest"
if [ -n "$ready" ]; then
	ok "guest boots to ready"
	echo "# boot-to-ready: $ready (guest CLOCK_BOOTTIME, TCG microvm, with the crun selftest); QEMU start to ready line: $wall ms wall"
	grep -ao 'ms since boot: [^"]*' "$console" | sed 's/^/# /'
	# Every set-up step worked (modules, cgroups, mounts, modules locked).
	if grep -a 'level=warn' "$console" | sed 's/^/# /' | grep .; then
		notok "guest set-up logs no warning"
	else
		ok "guest set-up logs no warning"
	fi
else
	skip "guest set-up logs no warning" "no boot"
	notok "guest boots to ready (bound ${BOOT_BOUND}s)"
	tail -20 "$console" "$tmp/one.qemu.out" | sed 's/^/# /'
fi

# The guest side of port qemubox.0 is open (the agent holds it): QEMU reports
# the front end of the channel's chardev as open. What the agent says on it
# is the guest API component test's (30-guest-api.sh).
opened=""
for _ in $(seq 50); do
	opened=$(printf '{"execute":"qmp_capabilities"}\n{"execute":"query-chardev"}\n' |
	    socat -t 2 - "UNIX-CONNECT:$qmp" 2>/dev/null |
	    jq -r 'select(.return | type == "array") | .return[] | select(.label == "chan") | ."frontend-open"' 2>/dev/null)
	[ "$opened" = true ] && break
	sleep 0.2
done
[ "$opened" = true ]
check $? "guest opens the host channel (QMP query-chardev: chan frontend-open=${opened:-?})"

# vminitd's selftest: crun --version in the guest root, then `crun run` of a
# container whose rootfs is a bind of the guest root (pivot_root, namespaces,
# a cgroup under the delegated cgroup2), printing crun's version again.
grep -aq 'selftest_crun: crun --version exited 0' "$console" &&
    grep -aq 'selftest_crun: root mount: tmpfs' "$console" &&
    grep -aq 'selftest_container: crun run exited 0' "$console" &&
    [ "$(grep -ac '^crun version' "$console")" -eq 2 ]
check $? "crun runs in the guest root and runs a container (pivot_root off the tmpfs root)"

exec 7>&-
wait_qemu_exit
[ "$qrc" = 0 ] && grep -aq 'pid1_poweroff: powering off' "$console"
check $? "channel EOF powers off, QEMU exits 0 (rc=${qrc:-timeout} in $off_ms ms, bound ${OFF_BOUND}s)"

# The host's graceful stop: QMP system_powerdown -> ACPI power button.
boot_vm two microvm ""
if [ -n "$ready" ]; then
	ok "second boot to ready"
	echo "# boot-to-ready: $ready (guest CLOCK_BOOTTIME, TCG microvm); QEMU start to ready line: $wall ms wall"
else
	notok "second boot to ready (bound ${BOOT_BOUND}s)"
	tail -20 "$console" "$tmp/two.qemu.out" | sed 's/^/# /'
fi
printf '{"execute":"qmp_capabilities"}\n{"execute":"system_powerdown"}\n' |
    socat -t 2 - "UNIX-CONNECT:$qmp" >"$tmp/two.qmp.out" 2>&1
wait_qemu_exit
[ "$qrc" = 0 ] && grep -aq 'power button: shutting down' "$console"
check $? "ACPI system_powerdown powers off, QEMU exits 0 (rc=${qrc:-timeout} in $off_ms ms, bound ${OFF_BOUND}s)"

# q35 (PCI, firmware): what vmmon uses when CPU or memory hotplug is on.
boot_vm three q35 ""
if [ -n "$ready" ]; then
	ok "q35 boot to ready"
	echo "# boot-to-ready: $ready (guest CLOCK_BOOTTIME, TCG q35); QEMU start to ready line: $wall ms wall"
else
	notok "q35 boot to ready (bound ${BOOT_BOUND}s)"
	tail -20 "$console" "$tmp/three.qemu.out" | sed 's/^/# /'
fi
exec 7>&-
wait_qemu_exit
[ "$qrc" = 0 ] && grep -aq 'pid1_poweroff: powering off' "$console"
check $? "q35: channel EOF powers off, QEMU exits 0 (rc=${qrc:-timeout} in $off_ms ms, bound ${OFF_BOUND}s)"

# The self-test is test code: the production PID 1 must not carry it (its
# bundle directory name is a string only the self-test uses).
! grep -aq 'qemubox-selftest' "$G/vminitd" && grep -aq 'qemubox-selftest' "$SELFTEST"
check $? "production vminitd holds no self-test"
