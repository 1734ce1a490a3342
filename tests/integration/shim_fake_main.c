/*
 * containerd-shim-qbfake-v1 / -qbfakeh-v1: the fake backend under ASan,
 * unconfined (the sanitizer runtime and the seccomp allowlist do not mix;
 * 13-shim-confined.sh covers the confined daemon with
 * shim_fake_main_confined.c).
 */
#include "shim/shim_main.h"
#include "tests/integration/shim_fake_main.h"

static const struct shim_wiring wiring = {
    .backend = &fake_backend_ops,
    .confine = NULL,
};

int
main(int argc, char *argv[])
{
	return shim_main(argc, argv, &wiring);
}
