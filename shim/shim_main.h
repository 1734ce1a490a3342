/*
 * What one shim binary is made of. Its main() fills a struct shim_wiring
 * with the backend and the confinement it links and hands it to shim_main():
 * shim/main.c for containerd-shim-qemubox-v1 (vm_backend_ops, shim_confine),
 * tests/integration/shim_fake_main*.c for the test shims. Naming them there
 * makes a file missing from the link line a link error.
 */
#ifndef QEMUBOX_SHIM_MAIN_H
#define QEMUBOX_SHIM_MAIN_H

#include "lib/config.h"
#include "shim/backend.h"

struct shim_wiring {
	/* Serves the Task API; never NULL. */
	const struct backend_ops *backend;
	/*
	 * Landlock + seccomp, called by the daemon right after
	 * shim_priv_drop(). NULL only in the ASan test shims (the sanitizer
	 * runtime and the seccomp allowlist do not mix): the daemon then logs
	 * that it runs unconfined.
	 */
	void (*confine)(const struct qb_config *cfg);
};

/* Flags, then `start`, `delete`, the daemon or -v; the exit code. */
int shim_main(int argc, char *argv[], const struct shim_wiring *w);

#endif
