#!/usr/bin/env bash
# Variables are read inside check's eval.
# shellcheck disable=SC2034
# Layer cache with the real mkfs.erofs: concurrent builders share one build,
# a builder killed mid-build leaves nothing that gets used, the image mounts
# and shows the layer's files, stays unchanged when a container writes over
# it, and eviction drops images of removed snapshots. Also: the busybox OCI
# image script is deterministic and its layer becomes a working EROFS image.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh

TOOL=build/test/test_layer_cache
MKFS=/usr/bin/mkfs.erofs
n=0
plan=12
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); echo "not ok $n - $1"; [ $# -gt 1 ] && echo "# $2"; }
check() { if eval "$2"; then ok "$1"; else notok "$1" "failed: $2"; fi; }
skip_rest() { tap_skip_all $((n + 1)) "$plan" "layer cache" "$1"; }
skip() { n=$((n + 1)); tap_skip_line "$n" "$1" "$2"; }

echo "1..$plan"
[ -x "$TOOL" ] || skip_rest "$TOOL not built (make)"
[ -x "$MKFS" ] || skip_rest "mkfs.erofs not installed (erofs-utils)"

work=$(mktemp -d)
mnts=()
pids=()
ctd_pid=""
cleanup() {
	for m in "${mnts[@]}"; do umount "$m" 2>/dev/null; done
	for p in "${pids[@]}"; do kill -9 -- "-$p" 2>/dev/null; done
	if [ -n "$ctd_pid" ]; then
		kill "$ctd_pid" 2>/dev/null
		for _ in $(seq 50); do kill -0 "$ctd_pid" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$ctd_pid" 2>/dev/null
	fi
	grep -o " ${work}[^ ]*" /proc/mounts | sort -r | while read -r m; do umount "$m"; done
	rm -rf "$work"
}
on_exit cleanup

state=$work/state
layers=$state/layers
layer=$work/layer
mkdir -p "$layer/etc" "$layer/bin"
echo "hello from the layer" >"$layer/etc/greeting"
head -c 300000 /dev/urandom >"$layer/bin/blob"
ln -s greeting "$layer/etc/link"

# A mkfs.erofs that logs its runs and is slow enough for builders to overlap.
cat >"$work/slow-mkfs" <<EOF
#!/bin/sh
echo run >>"$work/runs"
sleep 1
exec $MKFS "\$@"
EOF
chmod +x "$work/slow-mkfs"

# 1: two builders at once -> one mkfs run, same image for both.
"$TOOL" get "$state" "$layer" "$work/slow-mkfs" >"$work/a.out" 2>"$work/a.err" &
pa=$!
"$TOOL" get "$state" "$layer" "$work/slow-mkfs" >"$work/b.out" 2>"$work/b.err" &
pb=$!
wait $pa; ra=$?
wait $pb; rb=$?
runs=$(wc -l <"$work/runs" 2>/dev/null || echo 0)
ia=$(sed -n 's/.*image=//p' "$work/a.out")
ib=$(sed -n 's/.*image=//p' "$work/b.out")
builds=$(cat "$work/a.out" "$work/b.out" | grep -c 'built=1')
check "two concurrent builders: one mkfs.erofs run, one build, same image" \
	'[ $ra = 0 ] && [ $rb = 0 ] && [ "$runs" = 1 ] && [ "$builds" = 1 ] && [ -n "$ia" ] && [ "$ia" = "$ib" ] && [ -f "$ia" ]'
img=$ia

# 2: a hit runs no mkfs at all.
"$TOOL" get "$state" "$layer" "$work/slow-mkfs" >"$work/c.out" 2>&1
runs=$(wc -l <"$work/runs")
check "cache hit: no mkfs run" 'grep -q "built=0 image=$img" "$work/c.out" && [ "$runs" = 1 ]'

# 3: kill a builder in the middle of mkfs: no image appears, the next builder
# cleans the temp and builds a good image.
layer2=$work/layer2
mkdir -p "$layer2"
echo second >"$layer2/file"
cat >"$work/hang-mkfs" <<EOF
#!/bin/sh
while [ \$# -gt 2 ]; do shift; done
echo "half an image" >"\$1"
exec sleep 60
EOF
chmod +x "$work/hang-mkfs"
setsid "$TOOL" get "$state" "$layer2" "$work/hang-mkfs" >/dev/null 2>&1 &
pk=$!
pids+=("$pk")
for _ in $(seq 50); do
	compgen -G "$layers/*.tmp.*" >/dev/null && break
	sleep 0.1
done
had_tmp=0
compgen -G "$layers/*.tmp.*" >/dev/null && had_tmp=1
kill -9 -- "-$pk" 2>/dev/null
wait "$pk" 2>/dev/null
erofs_before=$(find "$layers" -name '*.erofs' | wc -l)
"$TOOL" get "$state" "$layer2" "$MKFS" >"$work/d.out" 2>&1
img2=$(sed -n 's/.*image=//p' "$work/d.out")
tmps=$(find "$layers" -name '*.tmp.*' | wc -l)
magic=$(od -An -tx4 -j1024 -N4 "$img2" 2>/dev/null | tr -d ' ')
check "builder killed mid-build: no image used, next build clean and valid" \
	'[ $had_tmp = 1 ] && [ "$erofs_before" = 1 ] && grep -q built=1 "$work/d.out" && [ "$tmps" = 0 ] && [ "$magic" = e0f5e1e2 ]'

# 4-6: mount the image, compare with the layer, write over it in an overlay.
can_mount=1
why=""
if [ "$(id -u)" != 0 ]; then
	can_mount=0 why="needs root for mount"
elif ! grep -qw erofs /proc/filesystems && ! modprobe erofs 2>/dev/null; then
	can_mount=0 why="kernel has no erofs"
fi
if [ $can_mount = 1 ]; then
	sum0=$(sha256sum "$img" | cut -d' ' -f1)
	m=$work/mnt
	mkdir -p "$m"
	if mount -t erofs -o loop,ro "$img" "$m" 2>"$work/mount.err"; then
		mnts+=("$m")
		check "image mounts (erofs, loop, ro) and shows the layer's files" \
			'diff -r --no-dereference "$layer" "$m" >/dev/null && [ "$(readlink "$m/etc/link")" = greeting ]'
		# What the guest does: overlay with a tmpfs upper on top of it.
		mkdir -p "$work/t" "$work/root"
		mount -t tmpfs tmpfs "$work/t" && mnts=("$work/t" "${mnts[@]}")
		mkdir -p "$work/t/up" "$work/t/wk"
		if mount -t overlay overlay -o "lowerdir=$m,upperdir=$work/t/up,workdir=$work/t/wk" "$work/root"; then
			mnts=("$work/root" "${mnts[@]}")
			echo "container wrote this" >"$work/root/etc/greeting"
			rm -f "$work/root/bin/blob"
			check "writes through the overlay are not in the image" \
				'[ "$(cat "$work/root/etc/greeting")" = "container wrote this" ] && [ "$(cat "$m/etc/greeting")" = "hello from the layer" ] && [ -f "$m/bin/blob" ]'
			umount "$work/root"
		else
			notok "writes through the overlay are not in the image" "overlay mount failed"
		fi
		umount "$work/t" 2>/dev/null
		umount "$m"
		mnts=()
		sum1=$(sha256sum "$img" | cut -d' ' -f1)
		check "image checksum unchanged after use" '[ "$sum0" = "$sum1" ]'
	else
		notok "image mounts (erofs, loop, ro)" "$(cat "$work/mount.err")"
		notok "writes through the overlay are not in the image" "no mount"
		notok "image checksum unchanged after use" "no mount"
	fi
else
	for t in "image mounts" "writes through the overlay" "image checksum unchanged"; do
		skip "$t" "$why"
	done
fi

# 7: eviction removes the images of removed snapshots, keeps the others.
rm -rf "$layer2"
out=$("$TOOL" evict "$state" 0)
check "evict: image of a removed snapshot goes, the live one stays" \
	'echo "$out" | grep -q "stale=1 " && [ ! -e "$img2" ] && [ -f "$img" ]'

# 8-9: the busybox OCI image: deterministic, and its layer as EROFS works.
if scripts/mk-oci-image "$work/i1.tar" >/dev/null && scripts/mk-oci-image "$work/i2.tar" >/dev/null; then
	check "mk-oci-image: same inputs give the same bytes" 'cmp -s "$work/i1.tar" "$work/i2.tar"'
	mkdir -p "$work/oci" "$work/bb"
	tar -C "$work/oci" -xf "$work/i1.tar"
	ldig=$(jq -r '.layers[0].digest' "$work/oci/blobs/sha256/$(jq -r '.manifests[0].digest' "$work/oci/index.json" | cut -d: -f2)" | cut -d: -f2)
	tar -C "$work/bb" -xzf "$work/oci/blobs/sha256/$ldig"
	"$TOOL" get "$state" "$work/bb" "$MKFS" >"$work/e.out" 2>&1
	bimg=$(sed -n 's/.*image=//p' "$work/e.out")
	if [ $can_mount = 1 ] && mount -t erofs -o loop,ro "$bimg" "$work/mnt" 2>/dev/null; then
		mnts+=("$work/mnt")
		check "busybox layer as EROFS: busybox runs from it" \
			'[ "$("$work/mnt/bin/sh" -c "echo ok")" = ok ] && [ "$(readlink "$work/mnt/bin/ls")" = busybox ] && [ -d "$work/mnt/tmp" ]'
		umount "$work/mnt"
		mnts=()
	else
		check "busybox layer as EROFS image built" '[ -f "$bimg" ] && [ "$(od -An -tx4 -j1024 -N4 "$bimg" | tr -d " ")" = e0f5e1e2 ]'
	fi
else
	notok "mk-oci-image: same inputs give the same bytes" "mk-oci-image failed"
	notok "busybox layer as EROFS" "no image"
fi

# 10-11: real containerd overlay snapshots (two layers, with a whiteout and an
# opaque directory in the top one) -> plan -> EROFS disks stacked like the
# guest does: the container sees what containerd would have shown.
ctd_skip=""
command -v containerd >/dev/null || ctd_skip="containerd not installed"
[ $can_mount = 1 ] || ctd_skip=$why
[ -f "$work/i1.tar" ] || ctd_skip="no OCI image"
if [ -z "$ctd_skip" ]; then
	c=$work/ctd
	mkdir -p "$c"
	cat >"$c/config.toml" <<EOF
version = 2
root = "$c/root"
state = "$c/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$c/c.sock"
[ttrpc]
  address = "$c/c.sock.ttrpc"
[debug]
  address = "$c/d.sock"
EOF
	containerd --config "$c/config.toml" >"$c/log" 2>&1 &
	ctd_pid=$!
	for _ in $(seq 100); do [ -S "$c/c.sock" ] && break; sleep 0.1; done
	ctr() { command ctr --address "$c/c.sock" "$@"; }
	if ! ctr images import "$work/i1.tar" >/dev/null 2>&1; then
		ctd_skip="private containerd did not start or import failed"
	fi
fi
if [ -z "$ctd_skip" ]; then
	base=$(ctr snapshots ls | awk '$NF == "Committed" { print $1; exit }')
	up=$work/up
	mkdir -p "$up"
	ctr snapshots prepare l2-active "$base" >/dev/null
	mcmd=$(ctr snapshots mounts "$up" l2-active)
	if eval "$mcmd"; then
		echo top >"$up/top-file"
		rm "$up/bin/ls"
		rm -rf "${up:?}/etc" && mkdir "$up/etc" && echo only >"$up/etc/only"
		umount "$up"
	fi
	ctr snapshots commit layer2 l2-active
	ctr snapshots prepare ctr-active layer2 >/dev/null
	opts=$(ctr snapshots mounts /x ctr-active | sed -n 's/.* -o //p')
	IFS=, read -r -a optv <<<"$opts"
	LAYER_CACHE_STATE=$state "$TOOL" plan overlay overlay "${optv[@]}" >"$work/p1.out" 2>"$work/p1.err"
	LAYER_CACHE_STATE=$state "$TOOL" plan overlay overlay "${optv[@]}" >"$work/p2.out" 2>"$work/p2.err"
	mapfile -t imgs < <(awk '$1 == "disk" { print $5 }' "$work/p1.out")
	lower=""
	for i in "${!imgs[@]}"; do
		mkdir -p "$work/L$i"
		mount -t erofs -o loop,ro "${imgs[$i]}" "$work/L$i" && mnts=("$work/L$i" "${mnts[@]}")
		lower="$work/L$i${lower:+:$lower}" # overlayfs wants the top first
	done
	mkdir -p "$work/t2" "$work/root2"
	mount -t tmpfs tmpfs "$work/t2" && mnts=("$work/t2" "${mnts[@]}")
	mkdir -p "$work/t2/up" "$work/t2/wk"
	mount -t overlay overlay -o "lowerdir=$lower,upperdir=$work/t2/up,workdir=$work/t2/wk" "$work/root2" &&
		mnts=("$work/root2" "${mnts[@]}")
	check "containerd 2-layer snapshot -> 2 EROFS disks, lowest first; stacked: new file, whiteout and opaque dir honoured" \
		'[ ${#imgs[@]} = 2 ] && grep -q "disk 0 qb-layer-0 built=1" "$work/p1.out" && [ "$(cat "$work/root2/top-file")" = top ] && [ -x "$work/root2/bin/busybox" ] && [ ! -e "$work/root2/bin/ls" ] && [ -e "$work/root2/bin/cat" ] && [ "$(ls "$work/root2/etc")" = only ]'
	check "second container of the same snapshot chain: cache hits only" \
		'[ "$(grep -c "built=0" "$work/p2.out")" = 2 ] && [ "$(awk "\$1 == \"disk\" { print \$5 }" "$work/p2.out")" = "$(printf "%s\n" "${imgs[@]}")" ]'
	for m in "${mnts[@]}"; do umount "$m" 2>/dev/null; done
	mnts=()
	ctr snapshots rm ctr-active >/dev/null 2>&1
	ctr snapshots rm layer2 >/dev/null 2>&1
else
	for t in "containerd 2-layer snapshot stacked" "cache hits"; do
		skip "$t" "$ctd_skip"
	done
fi

# 12: the plan's disks in a real guest (TCG microvm, the project's kernel and
# modules, a throw-away busybox initrd standing in for vminitd): disks found
# by serial though attached in reverse order, stacked top first, whiteout and
# opaque directory honoured, busybox runs from the EROFS layers.
kdir=build/guest
kver=$(cat "$kdir/kernel.version" 2>/dev/null)
kmod=$kdir/kroot/lib/modules/$kver/kernel
guest_skip=""
[ -f "$kdir/qemubox-kernel-x86_64" ] && [ -d "$kmod" ] || guest_skip="guest kernel not built (make guest)"
command -v qemu-system-x86_64 >/dev/null || guest_skip="qemu-system-x86_64 not installed"
command -v cpio >/dev/null || guest_skip="cpio not installed"
command -v python3 >/dev/null || guest_skip="python3 not installed (sets the opaque xattr)"
[ -n "${ldig:-}" ] || guest_skip="no OCI image"
[ -n "$guest_skip" ] || [ "$(id -u)" = 0 ] || guest_skip="needs root (mknod, trusted xattr)"
if [ -z "$guest_skip" ]; then
	g=$work/guest
	mkdir -p "$g/ir/bin" "$g/ir/m" "$g/top/etc" "$g/top/bin" "$g/bb"
	tar -C "$g/bb" -xzf "$work/oci/blobs/sha256/$ldig"
	echo top >"$g/top/top-file"
	mknod "$g/top/bin/ls" c 0 0                       # whiteout
	echo only >"$g/top/etc/only"
	python3 -c "import os,sys; os.setxattr(sys.argv[1], 'trusted.overlay.opaque', b'y')" "$g/top/etc"
	LAYER_CACHE_STATE=$state "$TOOL" plan overlay overlay "lowerdir=$g/top:$g/bb" >"$g/plan" 2>/dev/null
	i0=$(awk '$3 == "qb-layer-0" { print $5 }' "$g/plan")
	i1=$(awk '$3 == "qb-layer-1" { print $5 }' "$g/plan")
	cp /bin/busybox "$g/ir/bin/busybox"
	for m in drivers/virtio/virtio_ring drivers/virtio/virtio drivers/virtio/virtio_mmio \
		drivers/block/virtio_blk lib/libcrc32c fs/erofs/erofs fs/overlayfs/overlay; do
		cp "$kmod/$m.ko" "$g/ir/m/"
	done
	cat >"$g/ir/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
for m in virtio_ring virtio virtio_mmio virtio_blk libcrc32c erofs overlay; do insmod /m/$m.ko; done
lower=""
for s in qb-layer-0 qb-layer-1; do
	for i in $(seq 50); do grep -qx "$s" /sys/block/vd*/serial 2>/dev/null && break; sleep 0.1; done
	for b in /sys/block/vd*; do
		[ "$(cat $b/serial)" = "$s" ] || continue
		mkdir -p /L/$s && mount -t erofs -o ro /dev/${b##*/} /L/$s && lower="/L/$s${lower:+:$lower}"
	done
done
mkdir -p /up /r && mount -t tmpfs tmpfs /up && mkdir /up/u /up/w
mount -t overlay overlay -o lowerdir=$lower,upperdir=/up/u,workdir=/up/w /r
chroot /r /bin/sh -c 'echo "RESULT top=$(cat /top-file) ls=$(test -e /bin/ls && echo present || echo gone) etc=$(ls /etc) sh=$(echo ok)"'
poweroff -f
EOF
	chmod +x "$g/ir/init"
	mkdir -p "$g/ir/proc" "$g/ir/sys" "$g/ir/dev"
	(cd "$g/ir" && find . | cpio -o -H newc 2>/dev/null | gzip -1 >"$g/initrd")
	khz=$(awk -F: '/cpu MHz/ { printf "%d", $2 * 1000; exit }' /proc/cpuinfo)
	timeout 240 qemu-system-x86_64 -machine microvm -accel tcg -m 256 -smp 1 \
		-nodefaults -no-user-config -nographic -no-reboot -serial stdio \
		-kernel "$kdir/qemubox-kernel-x86_64" -initrd "$g/initrd" \
		-append "console=ttyS0 quiet panic=-1 tsc_early_khz=$khz" \
		-drive "id=d1,file=$i1,format=raw,if=none,readonly=on" -device virtio-blk-device,drive=d1,serial=qb-layer-1 \
		-drive "id=d0,file=$i0,format=raw,if=none,readonly=on" -device virtio-blk-device,drive=d0,serial=qb-layer-0 \
		</dev/null >"$g/console" 2>&1
	check "guest (TCG microvm): layers by serial, stacked in order, whiteout + opaque dir, busybox runs" \
		'grep -aq "RESULT top=top ls=gone etc=only sh=ok" "$g/console"'
	grep -aq RESULT "$g/console" || tail -5 "$g/console" | sed 's/^/# /'
else
	skip "guest stacks the plan's disks" "$guest_skip"
fi
