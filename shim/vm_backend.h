/*
 * The VM backend (shim/vm_backend.c): the ops that shim/main.c names in the
 * production shim's wiring, and what other shim code may call directly.
 */
#ifndef QEMUBOX_SHIM_VM_BACKEND_H
#define QEMUBOX_SHIM_VM_BACKEND_H

#include "lib/error.h"
#include "shim/backend.h"

extern const struct backend_ops vm_backend_ops;

/*
 * `delete` in a fresh process after the daemon died: vmmon and QEMU died
 * with it (their peer closed), but the sandbox network recorded in
 * privnet's database stays until torn down here. 0 when nothing is left.
 */
int vm_backend_cleanup_orphan(
    const char *ns, const char *id, const char *bundle, struct qb_error *err);

#endif
