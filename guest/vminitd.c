/*
 * vminitd: PID 1 of a qemubox guest. pid1_setup() prepares the VM and finds
 * the host channel; the rest of the life of the VM is serving the host on it.
 * The guest API agent (guest/agent.h) serves it, reaps children, and returns
 * when the host asks for Shutdown or closes the channel: then power off.
 */
#include <stdlib.h>
#include <unistd.h>

#include "guest/agent.h"
#include "guest/pid1.h"
#include "lib/log.h"

/* PID 1 must never exit: the kernel would panic. exit() (fatal()) powers off.
 */
static void
exit_poweroff(void)
{
	if (getpid() == 1)
		pid1_poweroff();
}

int
main(void)
{
	struct pid1_info info;

	log_init("vminitd", 0);
	if (getpid() != 1) {
		log_warnx(
		    "main: vminitd runs only as PID 1 of a qemubox guest");
		return 2;
	}
	atexit(exit_poweroff);
	if (pid1_setup(&info, NULL) == -1) {
		log_warn("main: set-up failed");
		pid1_poweroff();
	}
	if (agent_run(&info) == -1)
		log_warn("main: guest API agent");
	pid1_poweroff();
}
