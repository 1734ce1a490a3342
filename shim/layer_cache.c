/*
 * EROFS layer cache (shim/layer_cache.h).
 */
#include "shim/layer_cache.h"

#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sha2.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/log.h"
#include "shim/layer_build.h"

#define KEY_VERSION "qemubox-layer-v1"

static int
mkdir_one(const char *path)
{
	if (mkdir(path, 0700) == -1 && errno != EEXIST)
		return -1;
	return 0;
}

/*
 * A local build (no spawner): without CAP_SYS_ADMIN the kernel hides
 * trusted.* xattrs, so mkfs.erofs silently drops overlayfs'
 * trusted.overlay.opaque markers: a directory deleted and recreated in a
 * later layer would show the lower layers' files again. Say so once
 * instead of building wrong images quietly.
 */
static void
warn_if_no_sys_admin(void)
{
	static int warned;
	char line[256];
	unsigned long long eff = 0;
	FILE *f;

	if (warned)
		return;
	if ((f = fopen("/proc/self/status", "re")) == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "CapEff: %llx", &eff) == 1)
			break;
	fclose(f);
	if ((eff & (1ULL << 21)) == 0) {
		warned = 1;
		log_warnx("%s: no CAP_SYS_ADMIN: mkfs.erofs cannot read "
		          "trusted.overlay.* xattrs, opaque directories of "
		          "image layers will be lost (docs/STORAGE.md)",
		    __func__);
	}
}

int
layer_cache_init(struct layer_cache *lc, const char *state_dir,
    const char *compression, uint64_t max_mb, struct qb_error *err)
{
	int n;

	memset(lc, 0, sizeof(*lc));
	if (compression == NULL || *compression == '\0')
		compression = "none";
	if (strcmp(compression, "none") != 0 &&
	    strcmp(compression, "lz4") != 0 &&
	    strcmp(compression, "lz4hc") != 0)
		return qb_seterr(err, QB_E_INVALID,
		    "storage.compression (%s) must be none, lz4 or lz4hc",
		    compression);
	strcpy(lc->compression, compression);
	strcpy(lc->mkfs, LAYER_CACHE_MKFS);
	lc->max_bytes = max_mb * 1024 * 1024;
	lc->spawner_fd = -1;
	n = snprintf(lc->dir, sizeof(lc->dir), "%s/layers", state_dir);
	if (n < 0 || (size_t)n >= sizeof(lc->dir))
		return qb_seterr(err, QB_E_INVALID, "state_dir too long");
	if (mkdir_one(state_dir) == -1 || mkdir_one(lc->dir) == -1)
		return qb_seterr(err, QB_E_INTERNAL, "mkdir %s: %s", lc->dir,
		    strerror(errno));
	return 0;
}

/* ---- keys ------------------------------------------------------------- */

static void
hash_u64(SHA2_CTX *ctx, uint64_t v)
{
	unsigned char b[8];

	for (int i = 0; i < 8; i++)
		b[i] = (unsigned char)(v >> (8 * i));
	SHA256Update(ctx, b, sizeof(b));
}

static void
hash_str(SHA2_CTX *ctx, const char *s)
{
	SHA256Update(ctx, (const unsigned char *)s, strlen(s) + 1);
}

static void
hash_stat(SHA2_CTX *ctx, const struct stat *st)
{
	hash_u64(ctx, st->st_dev);
	hash_u64(ctx, st->st_ino);
	hash_u64(ctx, st->st_mode);
	hash_u64(ctx, st->st_uid);
	hash_u64(ctx, st->st_gid);
	hash_u64(ctx, st->st_rdev);
	hash_u64(ctx, (uint64_t)st->st_size);
	hash_u64(ctx, (uint64_t)st->st_mtim.tv_sec);
	hash_u64(ctx, (uint64_t)st->st_mtim.tv_nsec);
	hash_u64(ctx, (uint64_t)st->st_ctim.tv_sec);
	hash_u64(ctx, (uint64_t)st->st_ctim.tv_nsec);
}

static int
cmp_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static int
skip_dots(const struct dirent *de)
{
	return strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
}

/* Every entry below `path` in name order: its relative name and lstat. */
static int
hash_tree(SHA2_CTX *ctx, const char *path, const char *rel, int depth)
{
	struct dirent **ents = NULL;
	int n, rc = 0;

	if (depth > 256) {
		errno = ELOOP;
		return -1;
	}
	if ((n = scandir(path, &ents, skip_dots, cmp_name)) == -1)
		return -1;
	for (int i = 0; i < n; i++) {
		char child[PATH_MAX], crel[PATH_MAX];
		struct stat st;

		if (rc == -1)
			goto next;
		if (snprintf(child, sizeof(child), "%s/%s", path,
		        ents[i]->d_name) >= (int)sizeof(child) ||
		    snprintf(crel, sizeof(crel), "%s/%s", rel,
		        ents[i]->d_name) >= (int)sizeof(crel)) {
			errno = ENAMETOOLONG;
			rc = -1;
			goto next;
		}
		if (lstat(child, &st) == -1) {
			rc = -1;
			goto next;
		}
		hash_str(ctx, crel);
		hash_stat(ctx, &st);
		if (S_ISDIR(st.st_mode))
			rc = hash_tree(ctx, child, crel, depth + 1);
	next:
		free(ents[i]);
	}
	free(ents);
	return rc;
}

int
layer_cache_key(const struct layer_cache *lc, const char *dir,
    enum storage_key_kind kind, char key[LAYER_CACHE_KEY_LEN + 1])
{
	SHA2_CTX ctx;
	struct stat st;

	if (stat(dir, &st) == -1)
		return -1;
	if (!S_ISDIR(st.st_mode)) {
		errno = ENOTDIR;
		return -1;
	}
	SHA256Init(&ctx);
	hash_str(&ctx, KEY_VERSION);
	/* The same directory built with other options is another image. */
	hash_str(&ctx, lc->compression);
	if (kind == STORAGE_KEY_STAT) {
		/*
		 * dev+ino name the directory; ctime changes whenever its
		 * inode does and a recreated directory (same inode number
		 * reused) gets a new one. Committed snapshots never change
		 * below, so this identifies the contents.
		 */
		hash_str(&ctx, "stat");
		hash_u64(&ctx, st.st_dev);
		hash_u64(&ctx, st.st_ino);
		hash_u64(&ctx, (uint64_t)st.st_ctim.tv_sec);
		hash_u64(&ctx, (uint64_t)st.st_ctim.tv_nsec);
	} else {
		hash_str(&ctx, "tree");
		hash_stat(&ctx, &st);
		if (hash_tree(&ctx, dir, "", 0) == -1)
			return -1;
	}
	SHA256End(&ctx, key);
	return 0;
}

/* ---- paths and locks ---------------------------------------------------- */

static int
cache_path(char *out, size_t len, const struct layer_cache *lc, const char *key,
    const char *suffix)
{
	int n = snprintf(out, len, "%s/%s%s", lc->dir, key, suffix);

	if (n < 0 || (size_t)n >= len) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

/*
 * flock the key's lock file. Eviction unlinks lock files, so after getting
 * the lock make sure the file is still the one at the path; otherwise two
 * builders could hold locks on different inodes.
 */
static int
lock_key(const struct layer_cache *lc, const char *key, int nonblock)
{
	char path[PATH_MAX];
	struct stat a, b;
	int fd;

	if (cache_path(path, sizeof(path), lc, key, ".lock") == -1)
		return -1;
	for (;;) {
		fd =
		    open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd == -1)
			return -1;
		while (flock(fd, LOCK_EX | (nonblock ? LOCK_NB : 0)) == -1) {
			if (errno != EINTR) {
				close(fd);
				return -1;
			}
		}
		if (fstat(fd, &a) == 0 && stat(path, &b) == 0 &&
		    a.st_ino == b.st_ino && a.st_dev == b.st_dev)
			return fd;
		close(fd);
	}
}

/* Remove <key>.tmp.* (their builders are dead: we hold the key's lock). */
static unsigned
remove_temps(const struct layer_cache *lc, const char *key)
{
	char prefix[LAYER_CACHE_KEY_LEN + 8];
	struct dirent *de;
	unsigned n = 0;
	DIR *d;

	snprintf(prefix, sizeof(prefix), "%s.tmp.", key);
	if ((d = opendir(lc->dir)) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, prefix, strlen(prefix)) != 0)
			continue;
		if (unlinkat(dirfd(d), de->d_name, 0) == 0) {
			log_info("%s: removed %s/%s left by a dead builder",
			    __func__, lc->dir, de->d_name);
			n++;
		}
	}
	closedir(d);
	return n;
}

/* ---- mkfs.erofs --------------------------------------------------------- */

/*
 * Through qemubox-spawner: the output file is created here, and opened for
 * the builder (uid 65534 for a snapshot) through /proc/self/fd, which
 * checks its mode again: 0666 while building, inside the 0700 cache dir,
 * and 0644 once built.
 */
static int
spawn_mkfs(const struct layer_cache *lc, const char *out, const char *dir,
    struct qb_error *err)
{
	int fd, rc;

	fd =
	    open(out, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd == -1)
		return qb_seterr(
		    err, QB_E_INTERNAL, "create %s: %s", out, strerror(errno));
	if (fchmod(fd, 0666) == -1) {
		qb_seterr(
		    err, QB_E_INTERNAL, "chmod %s: %s", out, strerror(errno));
		close(fd);
		return -1;
	}
	rc = layer_build_remote(
	    lc->spawner_fd, dir, lc->compression, fd, NULL, err);
	if (fchmod(fd, 0644) == -1 && rc == 0)
		rc = qb_seterr(
		    err, QB_E_INTERNAL, "chmod %s: %s", out, strerror(errno));
	close(fd);
	return rc;
}

static int
run_mkfs(const struct layer_cache *lc, const char *out, const char *dir,
    struct qb_error *err)
{
	char *env[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C", NULL};
	char zopt[32];
	char *argv[8];
	char errbuf[512];
	size_t errlen = 0;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t mask, deflt;
	int pfd[2], status, argc = 0, rc;
	pid_t pid;
	ssize_t r;

	if (lc->spawner_fd != -1)
		return spawn_mkfs(lc, out, dir, err);
	warn_if_no_sys_admin();
	argv[argc++] = (char *)(uintptr_t)lc->mkfs;
	argv[argc++] = "--quiet";
	if (strcmp(lc->compression, "none") != 0) {
		snprintf(zopt, sizeof(zopt), "-z%s", lc->compression);
		argv[argc++] = zopt;
	}
	argv[argc++] = (char *)(uintptr_t)out;
	argv[argc++] = (char *)(uintptr_t)dir;
	argv[argc] = NULL;

	if (pipe2(pfd, O_CLOEXEC) == -1)
		return qb_seterr(
		    err, QB_E_INTERNAL, "pipe: %s", strerror(errno));
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, pfd[1], 2);
	/* The shim blocks signals for its signalfd; mkfs gets a clean slate. */
	posix_spawnattr_init(&attr);
	sigemptyset(&mask);
	sigfillset(&deflt);
	sigdelset(&deflt, SIGKILL);
	sigdelset(&deflt, SIGSTOP);
	posix_spawnattr_setsigmask(&attr, &mask);
	posix_spawnattr_setsigdefault(&attr, &deflt);
	posix_spawnattr_setflags(
	    &attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	rc = posix_spawn(&pid, lc->mkfs, &fa, &attr, argv, env);
	posix_spawnattr_destroy(&attr);
	posix_spawn_file_actions_destroy(&fa);
	close(pfd[1]);
	if (rc != 0) {
		close(pfd[0]);
		return qb_seterr(
		    err, QB_E_INTERNAL, "exec %s: %s", lc->mkfs, strerror(rc));
	}
	/* Keep the start of stderr for the message; drain the rest. */
	for (;;) {
		char sink[512];

		if (errlen < sizeof(errbuf) - 1)
			r = read(pfd[0], errbuf + errlen,
			    sizeof(errbuf) - 1 - errlen);
		else
			r = read(pfd[0], sink, sizeof(sink));
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		if (errlen < sizeof(errbuf) - 1)
			errlen += (size_t)r;
	}
	close(pfd[0]);
	errbuf[errlen] = '\0';
	while (errlen > 0 && (errbuf[errlen - 1] == '\n'))
		errbuf[--errlen] = '\0';
	for (char *p = errbuf; *p != '\0'; p++)
		if (*p == '\n')
			*p = ' ';
	while (waitpid(pid, &status, 0) == -1)
		if (errno != EINTR)
			return qb_seterr(
			    err, QB_E_INTERNAL, "waitpid: %s", strerror(errno));
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFSIGNALED(status))
		return qb_seterr(err, QB_E_INTERNAL,
		    "mkfs.erofs %s killed by signal %d: %s", dir,
		    WTERMSIG(status), errbuf);
	return qb_seterr(err, QB_E_INTERNAL,
	    "mkfs.erofs %s failed (exit %d): %s", dir, WEXITSTATUS(status),
	    errbuf);
}

static int
write_src(const struct layer_cache *lc, const char *key,
    enum storage_key_kind kind, const char *dir)
{
	char path[PATH_MAX], tmp[PATH_MAX];
	FILE *f;
	int fd;

	if (cache_path(path, sizeof(path), lc, key, ".src") == -1 ||
	    cache_path(tmp, sizeof(tmp), lc, key, ".src.tmp") == -1)
		return -1;
	fd = open(
	    tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd == -1 || (f = fdopen(fd, "w")) == NULL) {
		if (fd != -1)
			close(fd);
		return -1;
	}
	fprintf(f, "%s\n%s\n", kind == STORAGE_KEY_STAT ? "stat" : "tree", dir);
	if (fflush(f) != 0 || fsync(fileno(f)) == -1) {
		fclose(f);
		unlink(tmp);
		return -1;
	}
	fclose(f);
	return rename(tmp, path);
}

static int
read_src(const struct layer_cache *lc, const char *key,
    enum storage_key_kind *kind, char *dir, size_t len)
{
	char path[PATH_MAX], buf[PATH_MAX + 16], *nl;
	ssize_t r;
	int fd;

	if (cache_path(path, sizeof(path), lc, key, ".src") == -1)
		return -1;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1)
		return -1;
	r = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (r <= 0)
		goto bad;
	buf[r] = '\0';
	if (strncmp(buf, "stat\n", 5) == 0)
		*kind = STORAGE_KEY_STAT;
	else if (strncmp(buf, "tree\n", 5) == 0)
		*kind = STORAGE_KEY_TREE;
	else
		goto bad;
	if ((nl = strchr(buf + 5, '\n')) == NULL ||
	    (size_t)(nl - (buf + 5)) >= len)
		goto bad;
	*nl = '\0';
	strcpy(dir, buf + 5);
	return 0;
bad:
	errno = EINVAL;
	return -1;
}

static int
fsync_path(const char *path, int flags)
{
	int fd = open(path, flags | O_RDONLY | O_CLOEXEC), rc;

	if (fd == -1)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

/*
 * An open image holds a shared flock for as long as its open file
 * description lives: in the shim until Delete, and in QEMU, which gets
 * the same description by SCM_RIGHTS. Eviction takes the exclusive lock
 * without waiting and leaves the image alone when it cannot: a layer in
 * use is never evicted.
 */
static int
open_image(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd == -1)
		return -1;
	while (flock(fd, LOCK_SH) == -1 && errno == EINTR)
		;
	/* mtime = last use, for the LRU pass of eviction. */
	(void)futimens(fd, NULL);
	return fd;
}

int
layer_cache_get(const struct layer_cache *lc, const char *dir,
    enum storage_key_kind kind, char *image_out, size_t image_len, int *fd_out,
    int *built, struct qb_error *err)
{
	char key[LAYER_CACHE_KEY_LEN + 1], img[PATH_MAX], tmp[PATH_MAX];
	int lockfd = -1, fd = -1, rc = -1;

	if (built != NULL)
		*built = 0;
	if (fd_out != NULL)
		*fd_out = -1;
	if (layer_cache_key(lc, dir, kind, key) == -1)
		return qb_seterr(
		    err, QB_E_INVALID, "layer %s: %s", dir, strerror(errno));
	if (cache_path(img, sizeof(img), lc, key, ".erofs") == -1 ||
	    snprintf(tmp, sizeof(tmp), "%s/%s.tmp.%ld", lc->dir, key,
	        (long)getpid()) >= (int)sizeof(tmp) ||
	    strlen(img) >= image_len)
		return qb_seterr(
		    err, QB_E_INVALID, "layer cache path too long");

	/* A hit: the rename made the image complete before it had a name. */
	if ((fd = open_image(img)) != -1)
		goto done;

	if ((lockfd = lock_key(lc, key, 0)) == -1) {
		qb_seterr(
		    err, QB_E_INTERNAL, "lock %s: %s", key, strerror(errno));
		goto out;
	}
	if ((fd = open_image(img)) != -1)
		goto done; /* another builder finished while we waited */

	remove_temps(lc, key);
	log_info("%s: building %s from %s (%s)", __func__, img, dir,
	    lc->compression);
	if (run_mkfs(lc, tmp, dir, err) == -1)
		goto fail_tmp;
	if (fsync_path(tmp, 0) == -1 || write_src(lc, key, kind, dir) == -1 ||
	    rename(tmp, img) == -1) {
		qb_seterr(
		    err, QB_E_INTERNAL, "install %s: %s", img, strerror(errno));
		goto fail_tmp;
	}
	(void)fsync_path(lc->dir, O_DIRECTORY);
	if (built != NULL)
		*built = 1;
	if ((fd = open_image(img)) == -1) {
		qb_seterr(
		    err, QB_E_INTERNAL, "open %s: %s", img, strerror(errno));
		goto out;
	}
done:
	strcpy(image_out, img);
	if (fd_out != NULL) {
		*fd_out = fd;
		fd = -1;
	}
	rc = 0;
	goto out;
fail_tmp:
	unlink(tmp);
out:
	if (fd != -1)
		close(fd);
	if (lockfd != -1)
		close(lockfd);
	if (rc == 0 && built != NULL && *built && lc->max_bytes > 0)
		(void)layer_cache_evict(lc, 0, NULL);
	return rc;
}

/* ---- eviction ----------------------------------------------------------- */

struct cache_entry {
	char key[LAYER_CACHE_KEY_LEN + 1];
	struct timespec used;
	uint64_t bytes;
};

static int
cmp_used(const void *a, const void *b)
{
	const struct cache_entry *x = a, *y = b;

	if (x->used.tv_sec != y->used.tv_sec)
		return x->used.tv_sec < y->used.tv_sec ? -1 : 1;
	if (x->used.tv_nsec != y->used.tv_nsec)
		return x->used.tv_nsec < y->used.tv_nsec ? -1 : 1;
	return strcmp(x->key, y->key);
}

static bool
is_key(const char *s, size_t len)
{
	if (len != LAYER_CACHE_KEY_LEN)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		        (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

/*
 * Remove an image and its side files, if no builder holds its key and no
 * one has the image open (open_image's shared lock): -1 with EBUSY then.
 */
static int
remove_entry(const struct layer_cache *lc, const char *key)
{
	static const char *const suffix[] = {
	    ".erofs", ".src", ".src.tmp", ".lock"};
	char path[PATH_MAX];
	int lockfd, imgfd = -1;

	if ((lockfd = lock_key(lc, key, 1)) == -1)
		return -1;
	if (cache_path(path, sizeof(path), lc, key, ".erofs") == 0 &&
	    (imgfd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) != -1 &&
	    flock(imgfd, LOCK_EX | LOCK_NB) == -1) {
		close(imgfd);
		close(lockfd);
		errno = EBUSY;
		return -1;
	}
	for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++)
		if (cache_path(path, sizeof(path), lc, key, suffix[i]) == 0)
			(void)unlink(path);
	if (imgfd != -1)
		close(imgfd);
	close(lockfd);
	return 0;
}

static bool
entry_is_stale(const struct layer_cache *lc, const char *key)
{
	char dir[PATH_MAX], now[LAYER_CACHE_KEY_LEN + 1];
	enum storage_key_kind kind;

	if (read_src(lc, key, &kind, dir, sizeof(dir)) == -1)
		return true;
	if (layer_cache_key(lc, dir, kind, now) == -1)
		return true;
	return strcmp(now, key) != 0;
}

int
layer_cache_evict(const struct layer_cache *lc, uint64_t max_bytes,
    struct layer_cache_evict_stats *stats)
{
	struct layer_cache_evict_stats st = {0};
	struct cache_entry *ents = NULL, *grow;
	size_t n = 0, cap = 0;
	uint64_t total = 0;
	struct dirent *de;
	DIR *d;

	if (max_bytes == 0)
		max_bytes = lc->max_bytes;
	if ((d = opendir(lc->dir)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		const char *name = de->d_name, *dot = strchr(name, '.');
		char key[LAYER_CACHE_KEY_LEN + 1];
		struct stat sb;

		if (dot == NULL || !is_key(name, (size_t)(dot - name)))
			continue;
		memcpy(key, name, LAYER_CACHE_KEY_LEN);
		key[LAYER_CACHE_KEY_LEN] = '\0';
		if (strncmp(dot, ".tmp.", 5) == 0) {
			int lockfd = lock_key(lc, key, 1);

			if (lockfd == -1)
				continue; /* a live builder */
			if (unlinkat(dirfd(d), name, 0) == 0)
				st.removed_tmp++;
			close(lockfd);
			continue;
		}
		if (strcmp(dot, ".lock") == 0 || strcmp(dot, ".src") == 0 ||
		    strcmp(dot, ".src.tmp") == 0) {
			char img[LAYER_CACHE_KEY_LEN + sizeof(".erofs")];

			/* Side files of an image that is gone: no builder
			 * holds the key (remove_entry checks), so drop them. */
			snprintf(img, sizeof(img), "%s.erofs", key);
			if (fstatat(dirfd(d), img, &sb, 0) == -1 &&
			    errno == ENOENT)
				(void)remove_entry(lc, key);
			continue;
		}
		if (strcmp(dot, ".erofs") != 0)
			continue;
		if (entry_is_stale(lc, key)) {
			if (remove_entry(lc, key) == 0) {
				log_info("%s: removed %s.erofs: its layer is "
				         "gone or changed",
				    __func__, key);
				st.removed_stale++;
				continue;
			}
			if (errno != EBUSY)
				continue;
			st.kept_in_use++; /* counted below like any other */
		}
		if (fstatat(dirfd(d), name, &sb, AT_SYMLINK_NOFOLLOW) == -1)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			if ((grow = realloc(ents, cap * sizeof(*ents))) == NULL)
				break;
			ents = grow;
		}
		strcpy(ents[n].key, key);
		ents[n].used = sb.st_mtim;
		ents[n].bytes = (uint64_t)sb.st_size;
		total += ents[n].bytes;
		n++;
	}
	closedir(d);
	if (max_bytes > 0 && total > max_bytes) {
		qsort(ents, n, sizeof(*ents), cmp_used);
		for (size_t i = 0; i < n && total > max_bytes; i++) {
			if (remove_entry(lc, ents[i].key) == -1) {
				if (errno == EBUSY)
					st.kept_in_use++;
				continue;
			}
			log_info("%s: evicted %s.erofs (%llu bytes) for size",
			    __func__, ents[i].key,
			    (unsigned long long)ents[i].bytes);
			total -= ents[i].bytes;
			st.removed_lru++;
		}
	}
	free(ents);
	st.bytes_left = total;
	if (stats != NULL)
		*stats = st;
	return 0;
}
