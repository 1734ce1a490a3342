/*
 * The guest API server inside vminitd: serves qemubox.guest.v1.Guest on the
 * host channel (docs/GUEST-PROTOCOL.md), runs containers with crun, pumps
 * their stdio as channel streams and reports exits as events.
 */
#ifndef QEMUBOX_GUEST_AGENT_H
#define QEMUBOX_GUEST_AGENT_H

struct pid1_info;

/*
 * Serve until the host asks for Shutdown, closes the channel, or a shutdown
 * signal arrives. Returns 0 then (the caller powers off), -1 with errno if
 * the agent could not start.
 */
int agent_run(struct pid1_info *info);

#endif
