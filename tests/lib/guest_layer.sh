# shellcheck shell=bash
# The guest driver's inputs (source this file): a static-busybox rootfs as
# one EROFS layer and crun's default OCI spec.
#
#   guest_layer DIR   writes DIR/layer.erofs and DIR/config.json; status 1
#                     with the reason on stderr when a step fails

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
