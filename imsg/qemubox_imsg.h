/*
 * The one list of every imsg exchanged between the shim and its helpers
 * (qemubox-privnet, qemubox-vmmon), with the payload struct of each.
 *
 * Families: *_REQ flows shim -> helper, *_RES answers a request (or
 * IMSG_ERROR), *_EVT is unsolicited helper -> shim. Payloads are fixed-size
 * structs copied in host byte order (both ends are the same host); strings
 * are fixed char arrays that the receiver NUL-terminates and validates.
 * A helper that receives a type not listed for it, or a payload of the wrong
 * size (imsg_get_data demands exact size), kills the connection.
 *
 * Ownership: the privnet section belongs to privnet/, the vmmon section to
 * vmmon/; add new types at the end of a family, never renumber.
 */
#ifndef QEMUBOX_IMSG_H
#define QEMUBOX_IMSG_H

#include <stdint.h>

#define QB_ID_MAX 64 /* containerd ids: [A-Za-z0-9][A-Za-z0-9_.-]{0,75}; we cap lower */
#define QB_ERRMSG_MAX 1024

enum qb_imsg_type {
	IMSG_NONE = 0,

	/* Any helper -> shim: the request named in `type` failed. */
	IMSG_ERROR = 1,

	/* shim <-> privnet: 100..199 */
	IMSG_NET_FIRST = 100,

	/* shim <-> vmmon: 200..299 */
	IMSG_VMM_FIRST = 200,
};

/* IMSG_ERROR payload. */
struct qb_imsg_error {
	uint32_t req_type; /* the request type that failed */
	int32_t errnum;	   /* errno-style cause, 0 if none */
	int32_t code;	   /* gRPC code (lib/error.h) */
	char msg[QB_ERRMSG_MAX];
};

#endif
