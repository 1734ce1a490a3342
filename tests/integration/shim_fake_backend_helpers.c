/* The fake backend, but one that needs qemubox-privnet and qemubox-vmmon:
 * the daemon forks them (or names the missing one) before serving. */
#define FAKE_NEEDS_HELPERS 1
#include "tests/integration/shim_fake_backend.c"
