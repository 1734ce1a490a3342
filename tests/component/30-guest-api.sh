#!/usr/bin/env bash
# Guest API end to end: boots the real kernel + initrd under QEMU TCG with
# the virtio-serial channel on a socketpair and a busybox EROFS layer disk,
# then tests/component/guest_driver (shim/guest_client) creates and starts
# containers, reads their stdout over streams, checks exit statuses (0, 42,
# 137 after SIGKILL), runs execs, stalls a 64 MiB stdout for 5 s while ping
# and exec still answer, checks the checksum, and shuts the VM down.
# Needs `make all` first (kernel, initrd, driver).
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/guest_layer.sh

guest_prereqs "guest API component test"

tmp=$(mktemp -d)
on_exit 'rm -rf "$tmp"'

# A busybox rootfs as one EROFS layer; crun's default spec, with a network
# namespace the guest must drop.
guest_layer "$tmp" 2>"$tmp/err" || { echo "1..1"; echo "not ok 1 - $(cat "$tmp/err")"; exit 1; }

"$DRIVER" "$KERNEL" "$INITRD" "$tmp/layer.erofs" "$tmp/config.json" "$tmp/console.log"
rc=$?
if [ "$rc" -ne 0 ]; then
	echo "# guest console (last 40 lines):"
	tail -n 40 "$tmp/console.log" | sed 's/^/#   /'
fi
exit "$rc"
