/*
 * The shim's side of qemubox-tmpl, the template holder (tmpl/, imsg
 * IMSG_TMPL_*): ask for a template matching what the caller would boot and
 * get its sealed RAM memfd and a read-only (sealed) state fd, for a vmmon
 * START in ram_mode CLONE. Blocking, bounded by TMPL_CLIENT_TIMEOUT_MS.
 */
#ifndef QEMUBOX_SHIM_TMPL_CLIENT_H
#define QEMUBOX_SHIM_TMPL_CLIENT_H

#include <stddef.h>

#include "imsg/qemubox_imsg.h"
#include "lib/config.h"
#include "lib/error.h"

#define TMPL_CLIENT_TIMEOUT_MS 2000

/* Once, before tmpl_client_get (the shim's init): where the holder is
 * (tmpl_sock_path, shim/tmpl_spawn.h). */
int tmpl_client_init(const struct qb_config *cfg);

/*
 * 0: *res is the template's (its start request, sizes, generation), *ram_fd
 * its RAM memfd (sealed exactly W|SHRINK|GROW|SEAL, checked here) and
 * *state_fd its device state (sealed against writes, at offset 0); both
 * close-on-exec and the caller's. -1 with errno ENOENT when there is no
 * holder or no matching template (err says which: cold-boot), other errno
 * when the holder broke the protocol.
 */
int tmpl_client_get(const struct qb_tmpl_get_req *req, struct qb_tmpl_res *res,
    int *ram_fd, int *state_fd, struct qb_error *err);

#endif
