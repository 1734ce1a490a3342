/*
 * Test-only: loads one of vmmon's seccomp filters, then makes one call.
 *   vmmon-seccomp-helper vmmon|qemu socket-inet|ptrace|getpid|socket-unix|
 *       openat|kill-self|kill-parent|kill-child
 * (vmmon's filter is loaded as if getpid() + 1 were its QEMU.)
 * Survives (exit 0) when the call is allowed; a forbidden call must kill
 * it with SIGSYS (tests/component/40-vmmon.sh checks which).
 */
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lib/log.h"
#include "seccomp/seccomp.h"

int
main(int argc, char *argv[])
{
	int rc;

	if (argc != 3)
		return 2;
	log_init("vmmon-seccomp-helper", 0);
	rc = strcmp(argv[1], "qemu") == 0
	         ? seccomp_apply_vmmon_qemu(QB_SECCOMP_ENFORCE, getpid())
	         : seccomp_apply_vmmon(QB_SECCOMP_ENFORCE, getpid() + 1, 0);
	if (rc == -1)
		return 3;
	if (strcmp(argv[2], "socket-inet") == 0)
		syscall(SYS_socket, AF_INET, SOCK_STREAM, 0);
	else if (strcmp(argv[2], "socket-unix") == 0)
		syscall(SYS_socket, AF_UNIX, SOCK_STREAM, 0);
	else if (strcmp(argv[2], "ptrace") == 0)
		syscall(SYS_ptrace, PTRACE_TRACEME, 0, 0, 0);
	else if (strcmp(argv[2], "openat") == 0)
		syscall(SYS_openat, AT_FDCWD, "/etc/hostname", 0);
	else if (strcmp(argv[2], "kill-self") == 0)
		syscall(SYS_kill, getpid(), 0);
	else if (strcmp(argv[2], "kill-parent") == 0)
		syscall(SYS_kill, getppid(), 0);
	else if (strcmp(argv[2], "kill-child") == 0)
		syscall(SYS_kill, getpid() + 1, 0);
	else
		syscall(SYS_getpid);
	return 0;
}
