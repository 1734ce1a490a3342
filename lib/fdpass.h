/*
 * A message with file descriptors over a Unix socket (SCM_RIGHTS), for the
 * places that pass fds outside imsg: fsd's set-up child and share keeper.
 */
#ifndef QEMUBOX_FDPASS_H
#define QEMUBOX_FDPASS_H

#include <stddef.h>
#include <sys/types.h>

#define FDPASS_MAX 4

/* Sends buf[0..len) with fds[0..nfds) (nfds <= FDPASS_MAX, may be 0) in
 * one sendmsg; 0 when all of buf went, else -1 (errno). */
int fdpass_send(
    int sock, const void *buf, size_t len, const int *fds, size_t nfds);

/*
 * Receives one message into buf (at most len bytes) and up to maxfds fds
 * (close-on-exec) into fds; *nfds gets how many came, the rest of fds is
 * -1. Descriptors beyond maxfds are closed. Returns the byte count (0 at
 * EOF) or -1 (errno).
 */
ssize_t fdpass_recv(
    int sock, void *buf, size_t len, int *fds, size_t maxfds, size_t *nfds);

#endif
