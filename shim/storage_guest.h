/*
 * The storage part of the guest's CreateRequest (proto/guest.proto) from a
 * prepared storage plan: layers lowest first by serial, the copied files,
 * the writable layer (scratch disk serial or tmpfs size).
 */
#ifndef QEMUBOX_STORAGE_GUEST_H
#define QEMUBOX_STORAGE_GUEST_H

#include <stddef.h>

#include "lib/error.h"
#include "proto/guest.pb-c.h"
#include "shim/storage.h"

/* Owns the sub-messages req points to; strings and bytes stay in the plan. */
struct storage_guest_create {
	Qemubox__Guest__V1__Layer *layer_msgs;
	Qemubox__Guest__V1__Layer **layers;
	Qemubox__Guest__V1__File *file_msgs;
	Qemubox__Guest__V1__File **files;
};

/*
 * Fill req->layers, files, scratch_serial and tmpfs_size_mb. The plan must
 * outlive req. Disks the guest API cannot express yet (erofs device= extra
 * devices, read-only directory binds) are refused with QB_E_UNIMPLEMENTED
 * naming them, never dropped.
 */
int storage_guest_create_fill(const struct storage_plan *plan,
    Qemubox__Guest__V1__CreateRequest *req, struct storage_guest_create *keep,
    struct qb_error *err);
void storage_guest_create_free(struct storage_guest_create *keep);

#endif
