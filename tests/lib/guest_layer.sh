# shellcheck shell=bash
# The guest driver's inputs (source this file): a static-busybox rootfs as
# one EROFS layer and crun's default OCI spec.
#
#   guest_layer DIR   writes DIR/layer.erofs and DIR/config.json; status 1
#                     with the reason on stderr when a step fails
#   guest_prereqs NAME  sets DRIVER, KERNEL, INITRD (in build/); when they or
#                     a host tool the guest suites need are missing, prints
#                     the plan and a skip naming them (tap_skip_all: a FAIL
#                     under CI=true) and exits

guest_layer() {
	local dir=$1 bb root a
	bb=$(command -v busybox) || { echo "no busybox" >&2; return 1; }
	root=$dir/rootfs
	mkdir -p "$root"/{bin,dev,proc,sys,tmp,etc,run,root}
	cp "$bb" "$root/bin/busybox"
	for a in $("$bb" --list); do
		[ -e "$root/bin/$a" ] || ln -s busybox "$root/bin/$a"
	done
	echo "root:x:0:0:root:/root:/bin/sh" >"$root/etc/passwd"
	: >"$root/etc/hostname"
	mkfs.erofs --quiet --all-root "$dir/layer.erofs" "$root" >/dev/null 2>&1 ||
		{ echo "mkfs.erofs failed" >&2; return 1; }
	(cd "$dir" && crun spec >/dev/null) || { echo "crun spec failed" >&2; return 1; }
}

guest_prereqs() {
	local missing="" f t bb
	DRIVER=build/test/guest_driver
	KERNEL=build/guest/qemubox-kernel-x86_64
	INITRD=build/guest/qemubox-initrd
	for f in "$DRIVER" "$KERNEL" "$INITRD"; do [ -e "$f" ] || missing="$missing $f"; done
	for t in qemu-system-x86_64 mkfs.erofs crun; do
		command -v "$t" >/dev/null || missing="$missing $t"
	done
	bb=$(command -v busybox)
	[ -n "$bb" ] && file -L "$bb" 2>/dev/null | grep -q static || missing="$missing busybox-static"
	if [ -n "$missing" ]; then
		echo "1..1"
		tap_skip_all 1 1 "$1" "missing:$missing (run make all)"
	fi
}
