/*
 * The containerd-facing command line of containerd-shim-qemubox-v1
 * (WIRE.md §3): Go `flag` package syntax, actions `start` and `delete`,
 * daemon mode without an action, and the socket address the runc shim
 * derives from address/namespace/group.
 */
#ifndef QEMUBOX_SHIM_CLI_H
#define QEMUBOX_SHIM_CLI_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/error.h"

#define SHIM_NAME    "containerd-shim-qemubox-v1"
#define SHIM_RUNTIME "io.containerd.qemubox.v1"
/* Hard-coded by the runc shim too, not read from containerd's config. */
#define SHIM_SOCKET_DIR "/run/containerd/s"
/* "unix://" + SHIM_SOCKET_DIR + "/" + 64 hex + NUL, with room to spare. */
#define SHIM_ADDR_MAX 128

struct shim_opts {
	char namespace[256];
	char address[PATH_MAX];
	char publish_binary[PATH_MAX];
	char id[256];
	char bundle[PATH_MAX];
	char socket[PATH_MAX];
	bool debug;
	bool version;
	bool check_config;
	bool help;
	/* "start", "delete", or NULL for daemon mode; points into argv. */
	const char *action;
};

/*
 * Parse like Go's flag package: -f v, -f=v, --f v, --f=v; boolean flags take
 * no separate value (only -f=true/false); "--" ends the flags; parsing stops
 * at the first non-flag word, which is the action. Unknown flags and missing
 * values are QB_E_INVALID errors naming the flag.
 */
int shim_parse_args(
    int argc, char *const argv[], struct shim_opts *o, struct qb_error *err);

/* Go's path.Clean(path.Join(elems...)) for three elements. */
int shim_path_join3(
    const char *a, const char *b, const char *c, char *out, size_t outlen);

/*
 * The runc shim's socket: SHIM_SOCKET_DIR/<sha256 hex of
 * join(address, namespace, group)>. `path` gets the filesystem path,
 * `uri` (may be NULL) gets "unix://<path>".
 */
int shim_socket_path(const char *address, const char *ns, const char *group,
    char *path, size_t pathlen, char *uri, size_t urilen);

/*
 * Grouping key from <bundle>/config.json: the sandbox id of
 * shim/oci_spec.h (the rule the VM backend uses too).
 */
int shim_group_from_spec(const char *config_path, const char *id, char *group,
    size_t grouplen, struct qb_error *err);

/* Lower-case hex SHA-256 of a buffer into out[65]. */
void shim_sha256_hex(const void *buf, size_t len, char out[65]);

#endif

/* Actions (shim_start.c, shim_delete.c, shim_daemon.c). Return an exit code. */
struct backend_ops;
struct shim_wiring;
int shim_start(const struct shim_opts *o);
/* backend->cleanup_orphan (if any) tears down what a dead daemon left. */
int shim_delete(const struct shim_opts *o, const struct backend_ops *backend);
int shim_daemon(const struct shim_opts *o, const struct shim_wiring *w);

/* Socket helpers shared by start, delete and the daemon (shim_start.c). */
int shim_socket_listen(const char *path);
/* mkdir SHIM_SOCKET_DIR; make sure its owner (root) can use it without caps. */
int shim_socket_dir_prepare(void);
/* 1 if a shim answers a ttrpc Connect on path (or is too slow to tell),
 * 0 if the connection is refused or dropped: a stale socket. */
int shim_socket_serving(const char *path);
/* Write `address` in the current directory atomically (.address + rename). */
int shim_write_address(const char *uri);
/* Open the bundle's `log` FIFO for writing without blocking; -1 if absent. */
int shim_open_log_fifo(const char *dir);
/* Strip "unix://" from an address; NULL if it is not a unix address. */
const char *shim_uri_path(const char *uri);
/*
 * The bootstrap protocol of containerd >= 2.3 (WIRE.md §3.8): `start` gets
 * BootstrapParams (protobuf) on stdin; older containerd writes the runtime
 * options Any there, or nothing. shim_read_stdin reads fd at most cap bytes,
 * only when it is a pipe or a regular file (not a tty, not /dev/null), until
 * EOF or SHIM_STDIN_WAIT_MS without data; returns the length or -1.
 */
#define SHIM_STDIN_MAX     (1 << 20)
#define SHIM_STDIN_WAIT_MS 1000
ssize_t shim_read_stdin(int fd, uint8_t *buf, size_t cap);
/*
 * The shim protocol version to answer: 3 when buf is a BootstrapParams whose
 * containerd_version has a major version >= 2, else 2 (containerd 1.6/1.7
 * reject 3; 2.0-2.2 send no BootstrapParams and accept 2). ver (may be NULL)
 * gets containerd_version, "" when there is none.
 */
int shim_bootstrap_version(
    const uint8_t *buf, size_t len, char *ver, size_t verlen);
/*
 * What `start` prints: the address for version 2, the bootstrap JSON
 * {"version":3,"address":"<uri>","protocol":"ttrpc"} for version 3.
 * -1/EINVAL for another version or a uri with characters JSON would escape.
 */
int shim_start_answer(int version, const char *uri, char *out, size_t outlen);
/* --check-config: qb_config_check_main() (lib/config.c). */
int shim_check_config(void);
