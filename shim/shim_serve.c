#include "lib/log.h"
#include "shim/shim_daemon.h"
#include "shim/shim_priv.h"

int
shim_serve(struct shim_daemon_ctx *d)
{
	(void)d;
	shim_priv_drop(NULL);
	/* The ttrpc server (lib/ttrpc) is not in this build yet. */
	log_warnx("%s: Task service not built in (lib/ttrpc missing)",
	    __func__);
	return 1;
}
