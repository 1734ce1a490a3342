/*
 * qb-manifest [-H] [-e PATH]... ROOT: one line per entry below ROOT, in
 * name order, for comparing a tree as two systems see it (the merged
 * overlay on the host against the container's / in the VM; a layer
 * directory against its EROFS image).
 *
 *   /path type uid:gid mode nlink mtime size rdev sha256 link xattrs target
 *
 * Paths and link targets are escaped (\ooo for anything outside printable
 * ASCII, space and backslash included), so names with newlines stay one
 * line. ROOT itself is not listed (an overlay's root is its upper dir).
 * Directories show no size or nlink (filesystem-specific). "link=" names
 * the first path of the same inode (hard links). trusted.* xattrs are
 * left out: overlayfs hides its own, and only CAP_SYS_ADMIN sees them.
 * -e PATH (relative to ROOT, with a leading /) skips PATH and all below:
 * mount points such as /proc, /dev, /etc/hosts. -H: no content hashes.
 *
 * Built static (tests/tools/tools.mk) so it runs in any image.
 */
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/xattr.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sha2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_EXCLUDE 64

struct ino_seen {
	dev_t dev;
	ino_t ino;
	char *path;
};

static const char *excludes[MAX_EXCLUDE];
static size_t n_excludes;
static struct ino_seen *seen;
static size_t n_seen, cap_seen;
static int no_hash;
static int status;

static void
put_escaped(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c <= ' ' || c >= 0x7f || c == '\\')
			printf("\\%03o", c);
		else
			putchar(c);
	}
}

static void
put_hex(const unsigned char *b, size_t len)
{
	for (size_t i = 0; i < len; i++)
		printf("%02x", b[i]);
}

static const char *
type_of(mode_t m)
{
	switch (m & S_IFMT) {
	case S_IFREG:
		return "file";
	case S_IFDIR:
		return "dir";
	case S_IFLNK:
		return "symlink";
	case S_IFCHR:
		return "chr";
	case S_IFBLK:
		return "blk";
	case S_IFIFO:
		return "fifo";
	case S_IFSOCK:
		return "sock";
	}
	return "unknown";
}

static int
hash_file(const char *path, char out[SHA256_DIGEST_STRING_LENGTH])
{
	static unsigned char buf[1 << 16];
	SHA2_CTX ctx;
	ssize_t r;
	int fd;

	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1)
		return -1;
	SHA256Init(&ctx);
	while ((r = read(fd, buf, sizeof(buf))) > 0)
		SHA256Update(&ctx, buf, (size_t)r);
	close(fd);
	if (r == -1)
		return -1;
	SHA256End(&ctx, out);
	return 0;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
put_xattrs(const char *path)
{
	char names[65536], *list[1024], value[65536];
	ssize_t len, vlen;
	size_t n = 0;

	printf(" xattrs=");
	if ((len = llistxattr(path, names, sizeof(names))) <= 0)
		return;
	for (char *p = names; p < names + len && n < 1024; p += strlen(p) + 1)
		if (strncmp(p, "trusted.", 8) != 0)
			list[n++] = p;
	qsort(list, n, sizeof(list[0]), cmp_str);
	for (size_t i = 0; i < n; i++) {
		vlen = lgetxattr(path, list[i], value, sizeof(value));
		printf("%s%s=", i ? "," : "", list[i]);
		if (vlen > 0)
			put_hex((const unsigned char *)value, (size_t)vlen);
	}
}

static const char *
first_link(const struct stat *st, const char *rel)
{
	struct ino_seen *grow;

	for (size_t i = 0; i < n_seen; i++)
		if (seen[i].dev == st->st_dev && seen[i].ino == st->st_ino)
			return seen[i].path;
	if (n_seen == cap_seen) {
		cap_seen = cap_seen ? cap_seen * 2 : 256;
		if ((grow = realloc(seen, cap_seen * sizeof(*seen))) == NULL) {
			perror("realloc");
			exit(2);
		}
		seen = grow;
	}
	seen[n_seen].dev = st->st_dev;
	seen[n_seen].ino = st->st_ino;
	if ((seen[n_seen].path = strdup(rel)) == NULL) {
		perror("strdup");
		exit(2);
	}
	n_seen++;
	return NULL;
}

static void
entry(const char *path, const char *rel, const struct stat *st)
{
	char target[PATH_MAX + 1], sum[SHA256_DIGEST_STRING_LENGTH];
	const char *link = NULL;
	ssize_t tl;

	put_escaped(rel, strlen(rel));
	printf(" %s %u:%u %04o", type_of(st->st_mode), (unsigned)st->st_uid,
	    (unsigned)st->st_gid, (unsigned)(st->st_mode & 07777));
	if (S_ISDIR(st->st_mode))
		printf(" nlink=-");
	else
		printf(" nlink=%lu", (unsigned long)st->st_nlink);
	printf(" mtime=%lld.%09ld", (long long)st->st_mtim.tv_sec,
	    st->st_mtim.tv_nsec);
	if (S_ISREG(st->st_mode) || S_ISLNK(st->st_mode))
		printf(" size=%lld", (long long)st->st_size);
	else
		printf(" size=-");
	if (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode))
		printf(" rdev=%u:%u", major(st->st_rdev), minor(st->st_rdev));
	else
		printf(" rdev=-");
	if (S_ISREG(st->st_mode) && !no_hash) {
		if (hash_file(path, sum) == -1) {
			fprintf(stderr, "qb-manifest: read %s: %s\n", path,
			    strerror(errno));
			status = 1;
			strcpy(sum, "unreadable");
		}
		printf(" sha256=%s", sum);
	} else {
		printf(" sha256=-");
	}
	if (!S_ISDIR(st->st_mode) && st->st_nlink > 1)
		link = first_link(st, rel);
	printf(" link=");
	if (link != NULL)
		put_escaped(link, strlen(link));
	else
		putchar('-');
	put_xattrs(path);
	if (S_ISLNK(st->st_mode)) {
		printf(" target=");
		if ((tl = readlink(path, target, sizeof(target) - 1)) >= 0)
			put_escaped(target, (size_t)tl);
	}
	putchar('\n');
}

static int
excluded(const char *rel)
{
	for (size_t i = 0; i < n_excludes; i++)
		if (strcmp(rel, excludes[i]) == 0)
			return 1;
	return 0;
}

static int
cmp_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static int
not_dots(const struct dirent *de)
{
	return strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
}

static void
walk(const char *path, const char *rel)
{
	struct dirent **ents;
	int n;

	if ((n = scandir(path[0] != '\0' ? path : "/", &ents, not_dots,
	         cmp_name)) == -1) {
		fprintf(stderr, "qb-manifest: scandir %s: %s\n", path,
		    strerror(errno));
		status = 1;
		return;
	}
	for (int i = 0; i < n; i++) {
		char *cpath = NULL, *crel = NULL;
		struct stat st;

		if (asprintf(&cpath, "%s/%s", path, ents[i]->d_name) == -1 ||
		    asprintf(&crel, "%s/%s", rel, ents[i]->d_name) == -1) {
			perror("asprintf");
			exit(2);
		}
		if (!excluded(crel)) {
			if (lstat(cpath, &st) == -1) {
				fprintf(stderr, "qb-manifest: lstat %s: %s\n",
				    cpath, strerror(errno));
				status = 1;
			} else {
				entry(cpath, crel, &st);
				if (S_ISDIR(st.st_mode))
					walk(cpath, crel);
			}
		}
		free(cpath);
		free(crel);
		free(ents[i]);
	}
	free(ents);
}

int
main(int argc, char *argv[])
{
	int c;

	while ((c = getopt(argc, argv, "He:")) != -1) {
		switch (c) {
		case 'H':
			no_hash = 1;
			break;
		case 'e':
			if (n_excludes == MAX_EXCLUDE || optarg[0] != '/')
				goto usage;
			excludes[n_excludes++] = optarg;
			break;
		default:
			goto usage;
		}
	}
	if (optind != argc - 1)
		goto usage;
	walk(strcmp(argv[optind], "/") == 0 ? "" : argv[optind], "");
	if (fflush(stdout) != 0)
		return 2;
	return status;
usage:
	fprintf(stderr, "usage: qb-manifest [-H] [-e /PATH]... ROOT\n");
	return 2;
}
