#ifndef QEMUBOX_SHIM_DELETE_H
#define QEMUBOX_SHIM_DELETE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Raw DeleteResponse bytes into buf (>= 48 bytes); returns the length. */
size_t shim_encode_delete_response(uint8_t *buf, uint32_t pid,
    uint32_t exit_status, const struct timespec *at);

#endif
