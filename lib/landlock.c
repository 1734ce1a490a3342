#include "lib/landlock.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/landlock.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "lib/log.h"

/* Newer than Debian 12's headers; the kernel tells us whether it knows it. */
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14)
#endif

#define FS_READ       (LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR)
#define FS_WRITE_FILE (LANDLOCK_ACCESS_FS_WRITE_FILE)
#define FS_WRITE_TREE                                                     \
	(LANDLOCK_ACCESS_FS_REMOVE_DIR | LANDLOCK_ACCESS_FS_REMOVE_FILE | \
	    LANDLOCK_ACCESS_FS_MAKE_DIR | LANDLOCK_ACCESS_FS_MAKE_REG |   \
	    LANDLOCK_ACCESS_FS_MAKE_SOCK | LANDLOCK_ACCESS_FS_MAKE_FIFO | \
	    LANDLOCK_ACCESS_FS_MAKE_SYM)
/* Rights that mean something on a non-directory. */
#define FS_FILE_RIGHTS                                                \
	(LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE | \
	    LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_TRUNCATE)

int
landlock_abi(void)
{
	long v;

	v = syscall(SYS_landlock_create_ruleset, NULL, 0,
	    LANDLOCK_CREATE_RULESET_VERSION);
	return v < 0 ? 0 : (int)v;
}

static uint64_t
handled_rights(int abi)
{
	uint64_t r = LANDLOCK_ACCESS_FS_EXECUTE | FS_READ | FS_WRITE_FILE |
	             FS_WRITE_TREE | LANDLOCK_ACCESS_FS_MAKE_CHAR |
	             LANDLOCK_ACCESS_FS_MAKE_BLOCK;

	/* v2: rename/link across directories; v3: truncate. */
	if (abi >= 2)
		r |= LANDLOCK_ACCESS_FS_REFER;
	if (abi >= 3)
		r |= LANDLOCK_ACCESS_FS_TRUNCATE;
	return r;
}

static uint64_t
rights_for(unsigned access, uint64_t handled)
{
	uint64_t r = 0;

	if (access & LL_READ)
		r |= FS_READ;
	if (access & LL_WRITE)
		r |= FS_WRITE_FILE | FS_WRITE_TREE | LANDLOCK_ACCESS_FS_REFER |
		     LANDLOCK_ACCESS_FS_TRUNCATE;
	if (access & LL_EXEC)
		r |= LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_READ_FILE;
	if (access & LL_RMDIR)
		r |= LANDLOCK_ACCESS_FS_REMOVE_DIR;
	return r & handled;
}

int
landlock_restrict(const struct landlock_rule *rules, size_t n)
{
	struct landlock_ruleset_attr attr = {0};
	struct landlock_path_beneath_attr pb;
	struct stat st;
	size_t i;
	int abi, rfd, pfd;

	if ((abi = landlock_abi()) <= 0) {
		log_warnx("%s: the kernel has no Landlock; the filesystem "
		          "fence is not enforced",
		    __func__);
		return 1;
	}
	attr.handled_access_fs = handled_rights(abi);
	rfd = (int)syscall(SYS_landlock_create_ruleset, &attr, sizeof(attr), 0);
	if (rfd < 0) {
		log_warn("%s: landlock_create_ruleset", __func__);
		return -1;
	}
	for (i = 0; i < n; i++) {
		pfd = open(rules[i].path, O_PATH | O_CLOEXEC);
		if (pfd < 0) {
			log_debug("%s: skip %s: %s", __func__, rules[i].path,
			    errno == ENOENT ? "absent" : "unopenable");
			continue;
		}
		if (fstat(pfd, &st) == -1)
			goto fail_path;
		pb.parent_fd = pfd;
		pb.allowed_access =
		    rights_for(rules[i].access, attr.handled_access_fs);
		if (!S_ISDIR(st.st_mode))
			pb.allowed_access &= FS_FILE_RIGHTS;
		if (pb.allowed_access != 0 &&
		    syscall(SYS_landlock_add_rule, rfd,
		        LANDLOCK_RULE_PATH_BENEATH, &pb, 0) == -1)
			goto fail_path;
		close(pfd);
	}
	/* restrict_self requires NoNewPrivs (or CAP_SYS_ADMIN). */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1 ||
	    syscall(SYS_landlock_restrict_self, rfd, 0) == -1) {
		log_warn("%s: landlock_restrict_self", __func__);
		close(rfd);
		return -1;
	}
	close(rfd);
	log_debug("%s: enforced (ABI %d, %zu rules)", __func__, abi, n);
	return 0;

fail_path:
	log_warn("%s: rule for %s", __func__, rules[i].path);
	close(pfd);
	close(rfd);
	return -1;
}
