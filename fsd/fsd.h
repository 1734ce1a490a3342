/*
 * qemubox-fsd: the volume helper. It starts one confined virtiofsd per
 * START request, serving exactly the bind sources the shim staged
 * (docs/STORAGE.md "Volumes", docs/SECURITY.md "qemubox-fsd and virtiofsd").
 */
#ifndef QEMUBOX_FSD_H
#define QEMUBOX_FSD_H

#include <sys/types.h>

#include <stdbool.h>

#include "imsg/qemubox_imsg.h"
#include "lib/error.h"

/* Debian's virtiofsd (qemu-system-common). */
#ifndef QB_VIRTIOFSD
#define QB_VIRTIOFSD "/usr/lib/qemu/virtiofsd"
#endif

/* Inside virtiofsd's private mount namespace only. */
#define FSD_RUN_DIR   "/run"
#define FSD_SHARE_DIR "/run/qemubox-fs"
#define FSD_SOCKET    "/run/qemubox-fs.sock"

/* Keep only the capabilities virtiofsd needs (fsd/fsd_priv.c). */
int fsd_priv_drop(void);

/* An id: [A-Za-z0-9][A-Za-z0-9_.-]*, < QB_ID_MAX. */
bool fsd_valid_id(const char *id);
/* An absolute path without "." or ".." components or "//", < PATH_MAX. */
bool fsd_valid_source(const char *path);

/*
 * Start virtiofsd for vols[0..n-1] (n may be 0 with spare): sources are opened
 * here (so each is resolved once), bind-mounted (read-only ones read-only, all
 * nosuid and nodev) into a tmpfs in a new mount namespace, and virtiofsd is
 * executed there on a listening socket. *qemu_fd gets the connected other end,
 * for QEMU's vhost-user-fs chardev; *pid the virtiofsd process; *keeper, with
 * spare, a socket to the share's keeper (fsd_share_add/del), else -1.
 */
int fsd_spawn(const char *id, const struct qb_fs_volume *vols, size_t n,
    bool spare, const char *virtiofsd, pid_t *pid, int *qemu_fd, int *keeper,
    struct qb_error *err);

/*
 * A share started with spare slots (fsd_spawn, spare): vol joins it at
 * slot vol->index (a directory there, a file at <index>/QB_FS_FILE_NAME;
 * nosuid, nodev, read-only when asked), or slot index leaves it. keeper is the
 * share's keeper socket from fsd_spawn.
 */
int fsd_share_add(int keeper, const char *id, const struct qb_fs_volume *vol,
    struct qb_error *err);
/* The keeper's loop, in the share's mount namespace (fsd_spawn's child). */
void fsd_keeper(int sock) __attribute__((noreturn));
int fsd_share_del(
    int keeper, const char *id, uint32_t index, struct qb_error *err);

#endif
