/*
 * A TAP device for a QEMU NIC (qemubox-privnet in the sandbox's netns,
 * qemubox-tmpl in its own private one): IFF_TAP|IFF_NO_PI|IFF_VNET_HDR,
 * as vmmon's `-netdev tap,fd=` expects. Needs CAP_NET_ADMIN in the network
 * namespace. Returns the fd (close-on-exec), or -1 with errno.
 */
#ifndef QEMUBOX_TAP_OPEN_H
#define QEMUBOX_TAP_OPEN_H

int tap_open(const char *name);

#endif
