/*
 * The guest channel's transport: runtime.transport resolved for this host.
 * "auto" is vsock when /dev/vhost-vsock exists, else virtio-serial (a
 * socketpair end QEMU turns into a virtserialport). For vsock the VM gets
 * /dev/vhost-vsock and a guest cid, and the shim connects to the port
 * vminitd listens on once the guest is up.
 */
#ifndef QEMUBOX_SHIM_TRANSPORT_H
#define QEMUBOX_SHIM_TRANSPORT_H

#include <stdbool.h>
#include <stdint.h>

#include "imsg/qemubox_imsg.h"
#include "lib/config.h"
#include "lib/error.h"

#define TRANSPORT_VHOST_VSOCK "/dev/vhost-vsock"
/* guest/pid1.c listens here unless qemubox.vsock_port= says otherwise. */
#define TRANSPORT_VSOCK_PORT 1024

/* Does this host offer vhost-vsock? Tests pass a probe of their own. */
typedef bool (*transport_probe_fn)(void);
bool transport_vhost_vsock_present(void);

/* want resolved with probe; *why says how, for the log. */
enum qb_vmm_transport transport_pick(
    enum qb_transport want, transport_probe_fn probe, const char **why);

/*
 * vsock: opens /dev/vhost-vsock for QEMU and picks a guest cid no other
 * live VM of this host uses (derived from our pid: one shim per VM).
 */
int transport_vsock_open(uint32_t *cid, struct qb_error *err);

/*
 * One connect to the guest's listener, bounded at timeout_ms: a blocking
 * fd, or -1 with errno (ECONNRESET or ETIMEDOUT while it does not listen).
 */
int transport_vsock_connect(uint32_t cid, uint32_t port, int timeout_ms);

#endif
