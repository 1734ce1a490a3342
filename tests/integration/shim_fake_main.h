/*
 * The test shims of tests/integration/1[1-3]-shim-*.sh: the real shim code
 * (shim_main) wired to the fake backend instead of shim/vm_backend.c.
 * shim_fake_backend.c (or shim_fake_backend_helpers.c) defines the ops,
 * shim_fake_main.c (ASan, unconfined) or shim_fake_main_confined.c (normal
 * build, shim_confine) the main().
 */
#ifndef QEMUBOX_TESTS_SHIM_FAKE_MAIN_H
#define QEMUBOX_TESTS_SHIM_FAKE_MAIN_H

#include "shim/backend.h"

extern const struct backend_ops fake_backend_ops;

#endif
