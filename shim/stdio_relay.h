/*
 * containerd's stdio of one process <-> guest channel streams.
 *
 * stdin: containerd's FIFO (or nothing) -> a SEND stream; stdout/stderr:
 * RECV streams -> containerd's FIFOs (or a file:// path). Credit is granted
 * only as bytes reach the FIFO (lib/chan_pump), so a reader that stalls
 * stalls that stream alone, and the guest process writing it.
 */
#ifndef QEMUBOX_SHIM_STDIO_RELAY_H
#define QEMUBOX_SHIM_STDIO_RELAY_H

#include <stdbool.h>
#include <stdint.h>

#include "lib/error.h"

struct evloop;
struct guest_client;
struct stdio_relay;

/* Paths as containerd sends them: FIFO path, file://PATH, or "" (none). */
struct stdio_relay *stdio_relay_new(struct evloop *loop,
    struct guest_client *gc, const char *in, const char *out,
    const char *err_path, bool terminal, struct qb_error *err);
/* The stream ids to put in the guest's Stdio message (0 = none). */
void stdio_relay_ids(
    const struct stdio_relay *r, uint32_t *in, uint32_t *out, uint32_t *err);
/* CloseIO: stdin ends once what containerd already wrote is sent. */
void stdio_relay_close_stdin(struct stdio_relay *r);
/* The process exited: stop feeding stdin; output drains to its end. */
void stdio_relay_finish(struct stdio_relay *r);
void stdio_relay_free(struct stdio_relay *r);

#endif
