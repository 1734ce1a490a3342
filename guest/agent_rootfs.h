/*
 * Container root filesystems in the guest: read-only layer disks (found by
 * virtio-blk serial) stacked with overlayfs over a writable upper on tmpfs
 * or an ext4 scratch disk.
 */
#ifndef QEMUBOX_GUEST_AGENT_ROOTFS_H
#define QEMUBOX_GUEST_AGENT_ROOTFS_H

#include <stddef.h>
#include <stdint.h>

#include "lib/error.h"

struct rootfs_layer {
	const char *serial;
	const char *fstype; /* "erofs" when NULL or empty */
};

/*
 * Mount under dir: dir/layers/N (read-only), dir/rw (tmpfs of tmpfs_mb, or
 * the scratch disk), and the overlay at dir/rootfs.
 */
int rootfs_mount(const char *dir, const struct rootfs_layer *layers, size_t n,
    const char *scratch_serial, uint64_t tmpfs_mb, struct qb_error *err);
/* Undo rootfs_mount (what of it exists); lazy where busy. */
void rootfs_unmount(const char *dir, size_t nlayers);
/*
 * The sandbox's volumes: mount virtio-fs `tag` at ROOTFS_VOLUMES_DIR once
 * per VM (later calls find it mounted). "" = no volumes, nothing to do.
 */
#define ROOTFS_VOLUMES_DIR "/run/qemubox/volumes"
int rootfs_volumes_mount(const char *tag, struct qb_error *err);
/* /dev/<name> of the virtio-blk disk with this serial, waiting up to ms. */
int rootfs_find_disk(
    const char *serial, char *out, size_t outlen, unsigned wait_ms);

#endif
