/*
 * containerd-shim-qemubox-v1: the VM backend (shim/vm_backend.c) confined
 * by Landlock + seccomp (shim/shim_landlock.c, seccomp/shim.c).
 */
#include "lib/malloc_tune.h"
#include "shim/shim_landlock.h"
#include "shim/shim_main.h"
#include "shim/vm_backend.h"

static const struct shim_wiring wiring = {
    .backend = &vm_backend_ops,
    .confine = shim_confine,
};

int
main(int argc, char *argv[])
{
	qb_malloc_tune();
	return shim_main(argc, argv, &wiring);
}
