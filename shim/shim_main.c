/*
 * A shim binary has three roles chosen by the action word after the Go-style
 * flags (WIRE.md §3): `start` prints the address of a (new or shared)
 * daemon, `delete` cleans up after a dead one, and no action is the daemon
 * itself, serving the Task API on fd 3 or -socket. The binary's main()
 * (shim/main.c) says which backend and confinement it is made of.
 */
#include <stdio.h>
#include <string.h>

#include "lib/log.h"
#include "shim/shim_cli.h"
#include "shim/shim_daemon.h"
#include "shim/shim_env.h"
#include "shim/shim_main.h"

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: %s [flags] [start|delete]\n"
	    "  -namespace NS        containerd namespace\n"
	    "  -address PATH        containerd's gRPC socket\n"
	    "  -publish-binary PATH containerd binary used to publish events\n"
	    "  -id ID               container id\n"
	    "  -bundle PATH         bundle directory (delete)\n"
	    "  -socket PATH         serve on PATH instead of fd 3 (daemon)\n"
	    "  -debug               debug logging\n"
	    "  -v                   print the version and exit\n"
	    "  --check-config       validate the qemubox config and exit\n",
	    SHIM_NAME);
}

int
shim_main(int argc, char *argv[], const struct shim_wiring *w)
{
	static struct shim_opts o;
	struct qb_error err = {0};

	log_init("shim", 0);
	if (shim_parse_args(argc, argv, &o, &err) == -1) {
		fprintf(stderr, "%s: %s\n", SHIM_NAME, err.msg);
		usage(stderr);
		return 2;
	}
	log_init("shim", o.debug);
	/* Before the daemon and the helpers are exec'd with our environment. */
	shim_env_sanitize();
	if (o.help) {
		usage(stdout);
		return 0;
	}
	if (o.version) {
		printf("%s:\n  Version: %s\n  Revision: %s\n  Runtime: %s\n"
		       "  Serves: %s\n",
		    SHIM_NAME, QB_VERSION, QB_GIT_REV, SHIM_RUNTIME,
		    shim_serve_features());
		return 0;
	}
	if (o.check_config)
		return shim_check_config();
	if (o.action == NULL)
		return shim_daemon(&o, w);
	if (strcmp(o.action, "start") == 0)
		return shim_start(&o);
	if (strcmp(o.action, "delete") == 0) {
		/*
		 * containerd logs anything `delete` writes on stderr as
		 * "cleanup warnings" at level warning: only warnings go there
		 * (info and debug lines too when it runs us with -debug).
		 */
		if (!o.debug)
			log_set_max_level(LOG_LEVEL_WARN);
		return shim_delete(&o, w->backend);
	}
	fprintf(stderr, "%s: unknown action \"%s\"\n", SHIM_NAME, o.action);
	usage(stderr);
	return 2;
}
