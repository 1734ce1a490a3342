#ifndef QEMUBOX_SHIM_PRIV_H
#define QEMUBOX_SHIM_PRIV_H

#include "lib/config.h"

/*
 * Drop every privilege the shim engine does not need, once its helpers are
 * forked: uid stays 0 (containerd checks SO_PEERCRED and owns the FIFOs and
 * bundles, WIRE.md §1.4) but no capability in any set, securebits that make
 * uid 0 ordinary and lock it so, NoNewPrivs; then it verifies it cannot get
 * anything back and dies (fatalx) if it can. cfg may be NULL (defaults).
 */
void shim_priv_drop(const struct qb_config *cfg);

/* The self-check alone: 0 when nothing can be regained, -1 otherwise. */
int shim_priv_verify(void);

#endif
