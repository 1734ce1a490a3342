/*
 * shim_serve() for a tree without lib/ttrpc (shim/shim.mk picks this file
 * only then): the daemon starts, drops privileges and says why it cannot
 * serve, so containerd reports a closed connection instead of hanging.
 */
#include "lib/log.h"
#include "shim/shim_daemon.h"
#include "shim/shim_priv.h"

const char *
shim_serve_features(void)
{
	return "none (built without lib/ttrpc)";
}

int
shim_serve(struct shim_daemon_ctx *d)
{
	(void)d;
	shim_priv_drop(NULL);
	log_warnx("%s: Task API not built in (lib/ttrpc missing from this "
	          "tree)",
	    __func__);
	return 1;
}
