#!/bin/sh
# Test-only guest for tests/component/40-vmmon.sh (never shipped): Debian's
# cloud kernel plus a busybox initrd whose /init announces itself on the
# virtio-serial port qemubox.0 ("READY <ncpus>") and answers "cpus" with
# "CPUS <n online>" after onlining hot-added vCPUs, "disk" with
# "DISK <serial> <first 16 bytes>" of vda, else of the SCSI disk sda (a
# clone's), "net" with "NET <eth0 MAC>".
# The power button
# (ACPI) powers it off.
#   vmmon-testguest.sh OUTDIR   -> OUTDIR/kernel OUTDIR/initrd
# The kernel and its modules are the guest image's: build/guest/kroot, which
# `make` unpacks from the one download of guest/mkkernel.sh (build/guest/dl).
# A test reaches no network, so a missing kroot is an error, not a download.
set -eu
out=$1
top=$(cd "$(dirname "$0")/../../.." && pwd)
kx=$top/build/guest/kroot
if ! ls "$kx"/boot/vmlinuz-* >/dev/null 2>&1; then
	echo "no guest kernel in $kx: run make (guest/mkkernel.sh)" >&2
	exit 1
fi
mkdir -p "$out"
cp "$kx"/boot/vmlinuz-* "$out/kernel"
kver=$(ls "$kx/lib/modules" | head -1)
mdir=$kx/lib/modules/$kver/kernel

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/bin" "$root/dev" "$root/proc" "$root/sys" "$root/mod"
cp /bin/busybox "$root/bin/busybox"
for a in sh mount insmod cat echo grep ls sleep poweroff dd sync basename seq head; do
	ln -s busybox "$root/bin/$a"
done
for m in drivers/virtio/virtio drivers/virtio/virtio_ring \
	drivers/virtio/virtio_mmio drivers/virtio/virtio_pci_modern_dev \
	drivers/virtio/virtio_pci_legacy_dev drivers/virtio/virtio_pci \
	drivers/char/virtio_console drivers/block/virtio_blk net/core/failover \
	drivers/net/net_failover drivers/net/virtio_net drivers/scsi/scsi_common \
	drivers/scsi/scsi_mod drivers/scsi/sd_mod drivers/scsi/virtio_scsi; do
	f=$(ls "$mdir"/$m.ko* | head -1)
	case $f in
	*.xz) xz -dc "$f" >"$root/mod/$(basename "$m").ko" ;;
	*) cp "$f" "$root/mod/$(basename "$m").ko" ;;
	esac
done
for m in acpi/button input/evdev; do
	f=$(ls "$mdir"/drivers/$m.ko* 2>/dev/null | head -1 || true)
	[ -n "$f" ] || continue
	case $f in
	*.xz) xz -dc "$f" >"$root/mod/$(basename "$m").ko" ;;
	*) cp "$f" "$root/mod/$(basename "$m").ko" ;;
	esac
done
cat >"$root/init" <<'INIT'
#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in virtio_ring virtio virtio_mmio virtio_pci_modern_dev \
	virtio_pci_legacy_dev virtio_pci virtio_console virtio_blk failover \
	net_failover virtio_net scsi_common scsi_mod sd_mod virtio_scsi button \
	evdev; do
	[ -f /mod/$m.ko ] && insmod /mod/$m.ko 2>/dev/null
done
# The ACPI power button: any event on its input device powers off.
for e in /sys/class/input/event*; do
	[ "$(cat $e/device/name 2>/dev/null)" = "Power Button" ] || continue
	d=/dev/input/$(basename $e)
	(while [ ! -e $d ]; do sleep 0.1; done
	 dd if=$d of=/dev/null bs=24 count=1 2>/dev/null && poweroff -f) &
done
port=
for i in $(seq 1 100); do
	for n in /sys/class/virtio-ports/*/name; do
		[ -f "$n" ] && [ "$(cat "$n")" = qemubox.0 ] && port=/dev/$(basename "$(dirname "$n")")
	done
	[ -n "$port" ] && [ -e "$port" ] && break
	sleep 0.1
done
ncpu() { grep -c ^processor /proc/cpuinfo; }
exec 3<>"$port"
echo "READY $(ncpu)" >&3
while read -r cmd <&3; do
	case $cmd in
	cpus)
		for c in /sys/devices/system/cpu/cpu*/online; do
			[ "$(cat "$c")" = 1 ] || echo 1 >"$c" 2>/dev/null
		done
		echo "CPUS $(ncpu)" >&3 ;;
	disk)
		# A boot disk (vda), else a SCSI LUN (sda, serial in VPD page
		# 0x80 after its 4-byte header), which may still be probing.
		for i in $(seq 1 100); do
			[ -e /dev/vda ] || [ -e /dev/sda ] && break
			sleep 0.2
		done
		if [ -e /dev/vda ]; then
			echo "DISK $(cat /sys/block/vda/serial 2>/dev/null) $(head -c 16 /dev/vda 2>/dev/null)" >&3
		else
			echo "DISK $(dd if=/sys/block/sda/device/vpd_pg80 bs=1 skip=4 2>/dev/null) $(head -c 16 /dev/sda 2>/dev/null)" >&3
		fi ;;
	net)
		echo "NET $(cat /sys/class/net/eth0/address 2>/dev/null)" >&3 ;;
	poweroff) sync; poweroff -f ;;
	*) echo "ECHO $cmd" >&3 ;;
	esac
done
poweroff -f
INIT
chmod +x "$root/init"
(cd "$root" && find . | sort | cpio -o -H newc --quiet | gzip -1) >"$out/initrd"
