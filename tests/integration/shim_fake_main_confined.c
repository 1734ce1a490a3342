/*
 * containerd-shim-qbfakec-v1: the fake backend with the production shim's
 * confinement (shim/shim_landlock.c + seccomp/shim.c), in a normal build,
 * for 13-shim-confined.sh.
 */
#include "shim/shim_landlock.h"
#include "shim/shim_main.h"
#include "tests/integration/shim_fake_main.h"

static const struct shim_wiring wiring = {
    .backend = &fake_backend_ops,
    .confine = shim_confine,
};

int
main(int argc, char *argv[])
{
	return shim_main(argc, argv, &wiring);
}
