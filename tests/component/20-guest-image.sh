#!/usr/bin/env bash
# Guest image: the initrd holds exactly the manifest, builds reproducibly, and
# boots under QEMU TCG (microvm) to vminitd's ready line; the host channel
# (virtio-serial port qemubox.0 on a unix socket) answers, crun runs in the
# guest root, and closing the channel powers the VM off (QEMU exits 0).
# Needs `make guest` first (make all / make check do it).
set -u
cd "$(dirname "$0")/../.." || exit 1

G=build/guest
KERNEL=$G/qemubox-kernel-x86_64
INITRD=$G/qemubox-initrd
BOOT_BOUND=${QB_TEST_BOOT_BOUND:-90}	# s, TCG on 2 shared cores
OFF_BOUND=${QB_TEST_OFF_BOUND:-30}	# s, channel EOF -> QEMU exit

n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); echo "not ok $n - $1"; }
skip() { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }
check() { if [ "$1" -eq 0 ]; then ok "$2"; else notok "$2"; fi; }

echo "1..7"
missing=""
for f in "$KERNEL" "$INITRD" "$G/vminitd" "$G/kernel.version"; do
	[ -e "$f" ] || missing="$missing $f"
done
for t in cpio qemu-system-x86_64 socat; do
	command -v "$t" >/dev/null || missing="$missing $t"
done
if [ -n "$missing" ]; then
	for name in "initrd file list equals guest/initrd.manifest" \
	    "initrd build is reproducible" "initrd entries owned 0:0, mtime 0" \
	    "guest boots to ready" "host channel echoes" "crun runs in the guest root" \
	    "channel EOF powers off, QEMU exits 0"; do
		skip "$name" "missing:$missing (run make guest)"
	done
	exit 0
fi

tmp=$(mktemp -d)
qemu_pid="" socat_pid=""
cleanup() {
	exec 7>&- 2>/dev/null
	[ -n "$socat_pid" ] && kill "$socat_pid" 2>/dev/null
	[ -n "$qemu_pid" ] && kill "$qemu_pid" 2>/dev/null
	wait 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

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

# 4-7. boot
# microvm under TCG needs the host TSC frequency (HOST-FACTS.md).
khz=$(awk -F': *' '/^cpu MHz/ { printf "%d", $2 * 1000; exit }' /proc/cpuinfo)
[ -n "$khz" ] && [ "$khz" -gt 0 ] || khz=2000000
sock=$tmp/chan.sock
console=$tmp/console.log
: >"$console"
t0=$(date +%s%N)
qemu-system-x86_64 -machine microvm -accel tcg -m 512M -smp 1 \
    -nodefaults -no-user-config -nographic -no-reboot \
    -kernel "$KERNEL" -initrd "$INITRD" \
    -append "console=ttyS0 quiet panic=-1 tsc_early_khz=$khz qemubox.selftest=crun" \
    -serial "file:$console" \
    -device virtio-serial-device \
    -chardev "socket,id=chan,path=$sock,server=on,wait=on" \
    -device virtserialport,chardev=chan,name=qemubox.0 \
    >"$tmp/qemu.out" 2>&1 &
qemu_pid=$!

# QEMU waits for the host end before the guest runs.
for _ in $(seq 100); do
	[ -S "$sock" ] && break
	sleep 0.1
done
mkfifo "$tmp/to_guest"
socat -t 5 - "UNIX-CONNECT:$sock" <"$tmp/to_guest" >"$tmp/from_guest" 2>"$tmp/socat.err" &
socat_pid=$!
exec 7>"$tmp/to_guest"

ready=""
deadline=$(($(date +%s) + BOOT_BOUND))
while [ "$(date +%s)" -lt "$deadline" ]; do
	ready=$(grep -ao 'vminitd: ready in [0-9]* ms' "$console" | head -1)
	[ -n "$ready" ] && break
	kill -0 "$qemu_pid" 2>/dev/null || break
	sleep 0.2
done
wall=$((($(date +%s%N) - t0) / 1000000))
if [ -n "$ready" ]; then
	ok "guest boots to ready"
	echo "# boot-to-ready: ${ready#vminitd: ready in } (guest CLOCK_BOOTTIME, TCG microvm, crun selftest included); QEMU start to ready line: $wall ms wall"
else
	notok "guest boots to ready (bound ${BOOT_BOUND}s)"
	tail -20 "$console" "$tmp/qemu.out" | sed 's/^/# /'
fi

printf 'qemubox-echo-%s\n' "$$" >&7
got=""
for _ in $(seq 100); do
	got=$(cat "$tmp/from_guest")
	[ -n "$got" ] && break
	sleep 0.1
done
[ "$got" = "qemubox-echo-$$" ]
check $? "host channel echoes"

grep -aq 'selftest_crun: crun --version exited 0' "$console" &&
    grep -aq 'selftest_crun: root mount: tmpfs' "$console" &&
    grep -aq '^crun version' "$console"
check $? "crun runs in the guest root (root is a tmpfs mount)"

exec 7>&-
t1=$(date +%s)
qrc=""
while [ $(($(date +%s) - t1)) -lt "$OFF_BOUND" ]; do
	if ! kill -0 "$qemu_pid" 2>/dev/null; then
		wait "$qemu_pid"
		qrc=$?
		qemu_pid=""
		break
	fi
	sleep 0.2
done
[ "$qrc" = 0 ] && grep -aq 'pid1_poweroff: powering off' "$console"
check $? "channel EOF powers off, QEMU exits 0 (rc=${qrc:-timeout}, ${OFF_BOUND}s bound)"
