/*
 * The shim's side of qemubox-fsd: start the sandbox's virtiofsd for the
 * volumes of a storage plan (docs/STORAGE.md "Volumes").
 *
 * Blocking, bounded: fsd answers once its child has set up the share and
 * connected the socket (about 25 ms here; fsd gives the child at most 10 s,
 * this call waits at most FSD_CLIENT_TIMEOUT_MS). It runs once per sandbox,
 * at the first Create, which already waits for the VM to boot.
 */
#ifndef QEMUBOX_FSD_CLIENT_H
#define QEMUBOX_FSD_CLIENT_H

#include <stdbool.h>
#include <stdint.h>

#include "lib/error.h"
#include "shim/storage.h"

#define FSD_CLIENT_TIMEOUT_MS 15000

/*
 * fd: the imsg socket to qemubox-fsd. On success *qemu_fd is the connected
 * vhost-user socket for QEMU (the caller's to pass to vmmon and close) and
 * *pid virtiofsd's pid. An error names the volume or says why fsd refused;
 * a dead or misbehaving fsd gives QB_E_UNAVAILABLE.
 */
int fsd_client_start(int fd, const char *sandbox_id,
    const struct storage_plan *plan, bool spare, int *qemu_fd, int *pid,
    struct qb_error *err);

/*
 * A sandbox started with spare (a pod's VM, which takes its containers'
 * volumes while it runs): directory source joins the share at slot index
 * (a free one at or above the start's volume count; the guest finds it at
 * /run/qemubox/volumes/<index>), or slot index leaves it.
 */
int fsd_client_add(int fd, const char *sandbox_id, uint32_t index,
    bool readonly, const char *source, struct qb_error *err);
int fsd_client_del(
    int fd, const char *sandbox_id, uint32_t index, struct qb_error *err);

#endif
