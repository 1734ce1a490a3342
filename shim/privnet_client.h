/*
 * The shim's side of qemubox-privnet: the only way the shim asks for network
 * (nobody builds privnet imsgs by hand). One client per privnet connection.
 * Typed stubs over the shim's imsg client core (shim/imsg_client.h).
 *
 * Two forms of each call:
 *  - async (for the shim's event loop): *_async() queues the request and
 *    returns; the callback runs from privnet_client_read() when the answer
 *    arrives. Register privnet_client_fd() for reading, and for writing while
 *    privnet_client_want_write() (then call privnet_client_write()).
 *  - blocking: privnet_net_setup() etc. send and wait. NET_SETUP runs the CNI
 *    plugins, so it can take up to network.cni_timeout per plugin; call the
 *    blocking form only where stalling the loop is acceptable (tests,
 *    `shim delete`, shutdown paths).
 * privnet answers requests one at a time, in order.
 *
 * Errors: err->code is the gRPC code (lib/error.h), err->msg names what
 * failed (e.g. "CNI plugin bridge ADD: CNI error 11: ..."). When the
 * connection dies (privnet exited or sent garbage) every pending callback
 * gets QB_E_UNAVAILABLE and later calls fail the same way.
 */
#ifndef QEMUBOX_PRIVNET_CLIENT_H
#define QEMUBOX_PRIVNET_CLIENT_H

#include <stddef.h>

#include "imsg/qemubox_imsg.h"
#include "lib/error.h"

struct privnet_client;

/* Takes ownership of fd (the imsg socket to privnet); NULL + errno. */
struct privnet_client *privnet_client_new(int fd);
/* Closes the socket (privnet exits); pending callbacks are not called. */
void privnet_client_free(struct privnet_client *c);
int privnet_client_fd(const struct privnet_client *c);
int privnet_client_want_write(const struct privnet_client *c);
/* 0, or -1 when the connection is dead. */
int privnet_client_write(struct privnet_client *c);
/* Read and run callbacks; 0, or -1 once the connection is dead (EOF too). */
int privnet_client_read(struct privnet_client *c);

/*
 * res is NULL on error. On success tap_fd (the TAP, opened with
 * IFF_TAP|IFF_NO_PI|IFF_VNET_HDR) belongs to the callback: hand it to vmmon
 * or close it. The guest NIC must use res->mac.
 */
typedef void (*privnet_setup_cb)(void *arg, const struct qb_net_result *res,
    int tap_fd, const struct qb_error *err);
/* tap is NULL on error; else tap_fd is the callback's (as above). */
typedef void (*privnet_tap_cb)(void *arg, const struct qb_net_tap *tap,
    int tap_fd, const struct qb_error *err);
/* err is NULL on success. */
typedef void (*privnet_done_cb)(void *arg, const struct qb_error *err);
typedef void (*privnet_status_cb)(
    void *arg, const struct qb_net_status *st, const struct qb_error *err);

/*
 * netns_path_or_empty: "" = privnet creates /run/netns/qemubox-<id> and runs
 * the CNI chain; a path (under /run/netns or /var/run/netns) = CRI mode, the
 * netns is already wired, privnet only adds the TAP.
 */
int privnet_net_setup_async(struct privnet_client *c, const char *sandbox_id,
    const char *netns_path_or_empty, privnet_setup_cb cb, void *arg,
    struct qb_error *err);
/*
 * NET_SETUP of an own netns in two steps, so the VM boots while the CNI
 * plugins run: tap_async answers the TAP (for QEMU) and the MAC the guest
 * NIC must use at once; wire_async (call it after the TAP arrived) runs the
 * CNI chain and answers the rest (tap_fd -1; res->mac is the TAP's MAC).
 * Either failing leaves nothing of the sandbox's network on the host.
 */
int privnet_net_tap_async(struct privnet_client *c, const char *sandbox_id,
    privnet_tap_cb cb, void *arg, struct qb_error *err);
int privnet_net_wire_async(struct privnet_client *c, const char *sandbox_id,
    privnet_setup_cb cb, void *arg, struct qb_error *err);
/* Idempotent: tearing down an unknown or already removed sandbox is OK. */
int privnet_net_teardown_async(struct privnet_client *c, const char *sandbox_id,
    privnet_done_cb cb, void *arg, struct qb_error *err);
int privnet_net_status_async(struct privnet_client *c, const char *sandbox_id,
    privnet_status_cb cb, void *arg, struct qb_error *err);

/* Blocking forms (see above). *tap_fd is the caller's on success. */
int privnet_net_setup(struct privnet_client *c, const char *sandbox_id,
    const char *netns_path_or_empty, struct qb_net_result *out, int *tap_fd,
    struct qb_error *err);
int privnet_net_tap(struct privnet_client *c, const char *sandbox_id,
    struct qb_net_tap *out, int *tap_fd, struct qb_error *err);
int privnet_net_wire(struct privnet_client *c, const char *sandbox_id,
    struct qb_net_result *out, struct qb_error *err);
int privnet_net_teardown(
    struct privnet_client *c, const char *sandbox_id, struct qb_error *err);
int privnet_net_status(struct privnet_client *c, const char *sandbox_id,
    struct qb_net_status *out, struct qb_error *err);

/* "10.88.0.5/16" (with_prefix) or "10.88.0.1"; "" for an unset address. */
const char *privnet_addr_str(
    const struct qb_net_addr *a, int with_prefix, char *buf, size_t len);

#endif
