/*
 * ConfigureNetwork inside the guest: the NIC with the CNI veth's MAC gets
 * the CNI result (addresses, MTU, default gateway, routes); DNS goes to the
 * guest's /etc/resolv.conf. Raw rtnetlink, so vminitd stays static and small.
 */
#ifndef QEMUBOX_GUEST_NET_CONFIG_H
#define QEMUBOX_GUEST_NET_CONFIG_H

#include "lib/error.h"
#include "proto/guest.pb-c.h"

int net_config_apply(const Qemubox__Guest__V1__ConfigureNetworkRequest *req,
    struct qb_error *err);
/*
 * Until the link ConfigureNetwork brought up is running (IFF_RUNNING, the
 * kernel's operstate up), at most timeout_ms; at once if none was. 0, or
 * -1 with errno (ETIMEDOUT).
 */
#define NET_RUNNING_WAIT_MS 2000
#define NET_RUNNING_POLL_MS 5
int net_link_wait_running(unsigned timeout_ms);
/* "10.88.0.5/16" -> family, 16 address bytes, prefix; -1 if malformed. */
int net_parse_cidr(
    const char *s, int *family, unsigned char addr[16], unsigned *prefix);

#endif
