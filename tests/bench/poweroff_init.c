/*
 * The benchmark's floor: a trivial PID 1 that powers the VM off at once, so
 * "QEMU exec -> QEMU exit" with it measures firmware + kernel boot + the
 * power-off path and nothing of ours. It prints the kernel's uptime first so
 * the guest-side share of the boot can be told apart.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <time.h>
#include <unistd.h>

int
main(void)
{
	struct timespec ts;
	char line[96];
	int fd, n;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	(void)mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
	fd = open("/dev/console", O_WRONLY);
	if (fd >= 0) {
		n = snprintf(line, sizeof(line),
		    "poweroff-init: up at %ld ms\n",
		    (long)(ts.tv_sec * 1000 + ts.tv_nsec / 1000000));
		(void)!write(fd, line, (size_t)n);
		close(fd);
	}
	sync();
	reboot(RB_POWER_OFF);
	return 0;
}
