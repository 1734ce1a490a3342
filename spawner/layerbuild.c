/*
 * qemubox-layerbuild: one EROFS image of one layer directory, then exit.
 *
 *   qemubox-layerbuild [-S] [-z COMPRESSION] [-p PROBE] DIR
 *     fd 3    the output image: a regular, empty file open for writing
 *     stderr  mkfs.erofs's messages (the spawner keeps the start of them)
 *
 * Started by qemubox-spawner (spawner/spawner.c), which has already set
 * its uid, its capabilities (at most CAP_DAC_READ_SEARCH and CAP_SYS_ADMIN,
 * ambient so they survive the exec of mkfs.erofs), its bounding set and
 * NoNewPrivs. Here, before mkfs.erofs sees any byte of the layer:
 *   1. refuse to run with any other capability;
 *   2. open DIR (no symlink as the last component) and chdir into it, so
 *      mkfs.erofs walks the directory that was opened, by relative names;
 *   3. Landlock: read beneath DIR, read and write (no create) only the output
 * file (reached as /proc/self/fd/3), execute only mkfs.erofs and the libraries
 * it maps. Nothing else on the host can be opened, whatever the layer holds
 * (docs/SECURITY.md, "The layer builder");
 *   4. seccomp_apply_layerbuild (seccomp/spawner.c);
 *   5. exec mkfs.erofs, which inherits both.
 * -p PROBE (tests): after step 4, try to open PROBE for reading instead of
 * building: exit 0 if it opened, 3 if it was refused.
 */
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <linux/capability.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/landlock.h"
#include "lib/log.h"
#include "seccomp/seccomp.h"
#include "spawner/spawner.h"
#include "vmmon/elf_deps.h"

#define OUT_FD   3
#define OUT_PATH "/proc/self/fd/3"

static void __attribute__((noreturn)) usage(void)
{
	fprintf(stderr,
	    "usage: qemubox-layerbuild [-S] [-z none|lz4|lz4hc] [-p PROBE] "
	    "DIR (output image on fd 3)\n");
	exit(2);
}

/* Only what the spawner grants may be held; anything else is a misuse. */
static int
check_caps(void)
{
	struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
	uint64_t eff, prm;

	if (syscall(SYS_capget, &hdr, data) == -1)
		return -1;
	eff = data[0].effective | (uint64_t)data[1].effective << 32;
	prm = data[0].permitted | (uint64_t)data[1].permitted << 32;
	if (((eff | prm) & ~SPAWNER_LAYER_CAPS) != 0) {
		log_warnx("%s: started with capabilities 0x%llx; only "
		          "qemubox-spawner may start the layer builder",
		    __func__, (unsigned long long)(eff | prm));
		errno = EPERM;
		return -1;
	}
	if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1) {
		log_warnx("%s: NoNewPrivs is not set", __func__);
		errno = EPERM;
		return -1;
	}
	return 0;
}

/* The output must be what the spawner checked: a writable, empty file. */
static int
check_output(void)
{
	struct stat st;
	int fl;

	if (fstat(OUT_FD, &st) == -1 || !S_ISREG(st.st_mode) ||
	    st.st_size != 0 || (fl = fcntl(OUT_FD, F_GETFL)) == -1 ||
	    (fl & O_ACCMODE) == O_RDONLY) {
		log_warnx("%s: fd %d is not an empty writable file", __func__,
		    OUT_FD);
		errno = EBADF;
		return -1;
	}
	return 0;
}

int
main(int argc, char *argv[])
{
	enum qb_seccomp_mode mode = QB_SECCOMP_ENFORCE;
	const char *comp = "none", *probe = NULL, *dir;
	struct landlock_rule rules[ELF_DEPS_MAX + 3];
	static struct elf_deps deps;
	char zopt[32];
	char *margv[8];
	char *env[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C", NULL};
	size_t n = 0;
	int c, dfd, margc = 0;

	log_init("layerbuild", 0);
	while ((c = getopt(argc, argv, "Sz:p:")) != -1) {
		switch (c) {
		case 'S':
			mode = QB_SECCOMP_LOG;
			break;
		case 'z':
			comp = optarg;
			break;
		case 'p':
			probe = optarg;
			break;
		default:
			usage();
		}
	}
	if (optind != argc - 1)
		usage();
	dir = argv[optind];
	if (strcmp(comp, "none") != 0 && strcmp(comp, "lz4") != 0 &&
	    strcmp(comp, "lz4hc") != 0)
		usage();
	if (check_caps() == -1 || check_output() == -1)
		return 2;

	if ((dfd = open(
	         dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) == -1 ||
	    fchdir(dfd) == -1) {
		log_warn("%s: layer directory %s", __func__, dir);
		return 2;
	}
	close(dfd);

	memset(&deps, 0, sizeof(deps));
	if (elf_deps_add(&deps, SPAWNER_MKFS) == -1) {
		log_warn("%s: %s", __func__, SPAWNER_MKFS);
		return 2;
	}
	rules[n++] = (struct landlock_rule){".", LL_READ};
	rules[n++] = (struct landlock_rule){OUT_PATH, LL_READ | LL_WRITE};
	rules[n++] = (struct landlock_rule){SPAWNER_MKFS, LL_EXEC};
	for (size_t i = 0; i < deps.n; i++)
		rules[n++] = (struct landlock_rule){deps.path[i], LL_EXEC};
	/* Without Landlock the capabilities would read the whole host. */
	if (landlock_restrict(rules, n) != 0) {
		log_warnx("%s: Landlock is not enforced: refusing to read %s "
		          "with capabilities",
		    __func__, dir);
		return 2;
	}
	if (seccomp_apply_layerbuild(mode) == -1) {
		log_warn("%s: seccomp", __func__);
		return 2;
	}

	if (probe != NULL) {
		int fd = open(probe, O_RDONLY | O_CLOEXEC);

		if (fd == -1) {
			printf("%s: %s\n", probe, strerror(errno));
			return errno == EACCES ? 3 : 1;
		}
		close(fd);
		printf("%s: readable\n", probe);
		return 0;
	}

	margv[margc++] = SPAWNER_MKFS;
	margv[margc++] = "--quiet";
	if (strcmp(comp, "none") != 0) {
		snprintf(zopt, sizeof(zopt), "-z%s", comp);
		margv[margc++] = zopt;
	}
	margv[margc++] = OUT_PATH;
	margv[margc++] = ".";
	margv[margc] = NULL;
	execve(SPAWNER_MKFS, margv, env);
	log_warn("%s: exec %s", __func__, SPAWNER_MKFS);
	return 2;
}
