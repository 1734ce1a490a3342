/*
 * vminitd of the test image (tests/component/20-guest-image.sh): production
 * vminitd plus a crun self-test run before the host channel opens. It logs
 * the root mount, runs `crun --version` in the guest root, then `crun run` of
 * a container whose rootfs is a bind of the guest root (pivot_root off the
 * tmpfs root, namespaces, a cgroup under the delegated cgroup2). Production
 * vminitd (guest/vminitd.c) does not link this file.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "guest/agent.h"
#include "guest/gfile.h"
#include "guest/pid1.h"
#include "lib/log.h"

#define SELFTEST_DIR "/run/qemubox-selftest"

/*
 * A container whose rootfs is a bind mount of the guest root: crun has to
 * pivot_root into it, which is what moving off the initramfs is for.
 */
static const char selftest_config[] =
    "{\"ociVersion\":\"1.0.2\","
    "\"process\":{\"terminal\":false,\"user\":{\"uid\":0,\"gid\":0},"
    "\"args\":[\"/usr/bin/crun\",\"--version\"],"
    "\"env\":[\"PATH=/usr/bin\"],\"cwd\":\"/\"},"
    "\"root\":{\"path\":\"rootfs\",\"readonly\":true},"
    "\"hostname\":\"selftest\","
    "\"mounts\":[{\"destination\":\"/"
    "proc\",\"type\":\"proc\",\"source\":\"proc\"},"
    "{\"destination\":\"/dev\",\"type\":\"tmpfs\",\"source\":\"tmpfs\","
    "\"options\":[\"nosuid\",\"mode=755\"]}],"
    "\"linux\":{\"namespaces\":[{\"type\":\"pid\"},{\"type\":\"mount\"},"
    "{\"type\":\"ipc\"},{\"type\":\"uts\"}]}}\n";

/* Run /usr/bin/crun with argv, console as stdio; its exit code or 128+sig. */
static int
selftest_run(char *const argv[])
{
	char *const envp[] = {"PATH=/usr/bin", NULL};
	pid_t pid;
	int st;

	pid = fork();
	if (pid == -1) {
		log_warn("%s: fork", __func__);
		return -1;
	}
	if (pid == 0) {
		pid1_child_reset();
		execve("/usr/bin/crun", argv, envp);
		_exit(127);
	}
	while (waitpid(pid, &st, 0) == -1)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void
selftest_container(void)
{
	char *const argv[] = {
	    "crun", "run", "--bundle", SELFTEST_DIR, "qemubox-selftest", NULL};
	int rc;

	if ((mkdir(SELFTEST_DIR, 0700) == -1 && errno != EEXIST) ||
	    (mkdir(SELFTEST_DIR "/rootfs", 0755) == -1 && errno != EEXIST)) {
		log_warn("%s: mkdir", __func__);
		return;
	}
	if (mount("/", SELFTEST_DIR "/rootfs", NULL, MS_BIND, NULL) == -1) {
		log_warn("%s: bind /", __func__);
		return;
	}
	if (gfile_write(SELFTEST_DIR "/config.json", selftest_config,
	        strlen(selftest_config), O_CREAT | O_TRUNC, 0600) == -1)
		log_warn("%s: config.json", __func__);
	else {
		rc = selftest_run(argv);
		log_info("%s: crun run exited %d", __func__, rc);
	}
	if (umount2(SELFTEST_DIR "/rootfs", MNT_DETACH) == -1)
		log_warn("%s: umount", __func__);
	(void)unlink(SELFTEST_DIR "/config.json");
	(void)rmdir(SELFTEST_DIR "/rootfs");
	(void)rmdir(SELFTEST_DIR);
}

static void
selftest_crun(void)
{
	char line[512];
	FILE *f;

	/* crun must see a real mount as / or pivot_root fails (EINVAL). */
	if ((f = fopen("/proc/self/mountinfo", "re")) != NULL) {
		while (fgets(line, sizeof(line), f) != NULL) {
			char *sep = strstr(line, " - ");
			unsigned id, parent;
			char root[8], mnt[8];

			if (sep == NULL || sscanf(line, "%u %u %*s %7s %7s",
			                       &id, &parent, root, mnt) != 4)
				continue;
			if (strcmp(mnt, "/") == 0) {
				line[strcspn(line, "\n")] = '\0';
				log_info(
				    "%s: root mount: %s", __func__, sep + 3);
			}
		}
		fclose(f);
	}

	{
		char *const argv[] = {"crun", "--version", NULL};

		log_info("%s: crun --version exited %d", __func__,
		    selftest_run(argv));
	}
	selftest_container();
}

/* ---- the entry points ---- */

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
	if (getpid() != 1)
		return 2;
	atexit(exit_poweroff);
	if (pid1_setup(&info, selftest_crun) == -1 || agent_run(&info) == -1)
		log_warn("main: vminitd-selftest");
	pid1_poweroff();
}
