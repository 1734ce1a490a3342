/*
 * Leave root for good: the identity drop of the processes that end up as
 * an unprivileged uid (qemubox-vmmon, qemubox-tmpl). Every capability set
 * emptied (bounding and ambient too), then gid, groups and uid set, then
 * proven from the kernel's view: every id is the target, setuid(0) and
 * friends fail, no capability is left. Any failure is fatal.
 */
#ifndef QEMUBOX_IDS_DROP_H
#define QEMUBOX_IDS_DROP_H

#include <sys/types.h>

void ids_drop(uid_t uid, gid_t gid, const gid_t *groups, int ngroups);

#endif
