/*
 * The flags qemubox-vmmon is started with (it never reads the config file
 * itself once jailed: its jail has no view of /etc), from the config: its
 * uid (-U, a sandbox uid; 0: -u security.vmmon_user), -q, -s, -t, -S, -d.
 * One copy for its two spawners, the shim daemon and qemubox-tmpl.
 * a needs room for 12 entries; tbuf and ubuf hold the numbers.
 */
#ifndef QEMUBOX_VMMON_ARGS_H
#define QEMUBOX_VMMON_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/config.h"

void vmmon_spawn_args(const struct qb_config *cfg, uint32_t uid, bool debug,
    const char **a, char *tbuf, size_t tlen, char *ubuf, size_t ulen);

#endif
