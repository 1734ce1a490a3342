/*
 * Storage plan -> guest CreateRequest fields (shim/storage_guest.h).
 */
#include "shim/storage_guest.h"

#include "imsg/qemubox_imsg.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int
storage_guest_create_fill(const struct storage_plan *plan,
    Qemubox__Guest__V1__CreateRequest *req, struct storage_guest_create *keep,
    struct qb_error *err)
{
	size_t nl = 0;

	memset(keep, 0, sizeof(*keep));
	for (size_t i = 0; i < plan->n_disks; i++) {
		const struct storage_disk *d = &plan->disks[i];

		if (d->role == STORAGE_DISK_DEVICE)
			return qb_seterr(err, QB_E_UNIMPLEMENTED,
			    "erofs device=%s: extra EROFS devices are not "
			    "supported by the qemubox guest yet",
			    d->path);
		if (d->role == STORAGE_DISK_BIND)
			return qb_seterr(err, QB_E_UNIMPLEMENTED,
			    "read-only bind mount of host directory %s on %s "
			    "is not supported by the qemubox guest yet",
			    d->path, d->dest);
		/* The scratch disk is last and goes by scratch_serial. */
		if (d->role == STORAGE_DISK_SCRATCH)
			continue;
		nl++;
	}
	if (nl > 0) {
		keep->layer_msgs = calloc(nl, sizeof(*keep->layer_msgs));
		keep->layers = calloc(nl, sizeof(*keep->layers));
		if (keep->layer_msgs == NULL || keep->layers == NULL)
			goto nomem;
	}
	for (size_t i = 0; i < nl; i++) {
		qemubox__guest__v1__layer__init(&keep->layer_msgs[i]);
		keep->layer_msgs[i].serial =
		    (char *)(uintptr_t)plan->disks[i].serial;
		keep->layer_msgs[i].fstype = "erofs";
		keep->layers[i] = &keep->layer_msgs[i];
	}
	if (plan->n_files > 0) {
		keep->file_msgs =
		    calloc(plan->n_files, sizeof(*keep->file_msgs));
		keep->files = calloc(plan->n_files, sizeof(*keep->files));
		if (keep->file_msgs == NULL || keep->files == NULL)
			goto nomem;
	}
	for (size_t i = 0; i < plan->n_files; i++) {
		const struct storage_file *f = &plan->files[i];

		qemubox__guest__v1__file__init(&keep->file_msgs[i]);
		keep->file_msgs[i].path = (char *)(uintptr_t)f->dest;
		keep->file_msgs[i].mode = f->mode;
		keep->file_msgs[i].data.len = f->len;
		keep->file_msgs[i].data.data = f->data;
		keep->files[i] = &keep->file_msgs[i];
	}
	req->n_layers = nl;
	req->layers = keep->layers;
	req->n_files = plan->n_files;
	req->files = keep->files;
	/* QEMU's vhost-user-fs device carries this tag (vmmon). */
	req->volumes_tag = plan->n_volumes > 0 ? QB_VMM_FS_TAG : "";
	if (plan->upper_kind == STORAGE_UPPER_SCRATCH) {
		/* Last disk; its serial may carry a pod prefix. */
		req->scratch_serial =
		    plan->n_disks > 0
		        ? (char *)(uintptr_t)plan->disks[plan->n_disks - 1]
		              .serial
		        : STORAGE_SCRATCH_SERIAL;
		req->tmpfs_size_mb = 0;
	} else {
		req->scratch_serial = "";
		/* Round up: a 1-byte limit must not become "default". */
		req->tmpfs_size_mb = (plan->upper_bytes + (1 << 20) - 1) >> 20;
	}
	return 0;
nomem:
	storage_guest_create_free(keep);
	return qb_seterr(err, QB_E_EXHAUSTED, "out of memory");
}

void
storage_guest_create_free(struct storage_guest_create *keep)
{
	free(keep->layer_msgs);
	free(keep->layers);
	free(keep->file_msgs);
	free(keep->files);
	memset(keep, 0, sizeof(*keep));
}
