#include "shim/shim_cli.h"

#include <errno.h>
#include <sha2.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "shim/oci_spec.h"

enum flag_kind { FLAG_STRING, FLAG_BOOL };

struct flag_def {
	const char *name;
	enum flag_kind kind;
	size_t off;  /* into struct shim_opts */
	size_t size; /* string buffer size */
};

#define SFLAG(n, f)                                            \
	{                                                      \
		n, FLAG_STRING, offsetof(struct shim_opts, f), \
		    sizeof(((struct shim_opts *)0)->f)         \
	}
#define BFLAG(n, f)                                            \
	{                                                      \
		n, FLAG_BOOL, offsetof(struct shim_opts, f), 0 \
	}

static const struct flag_def flag_defs[] = {
    SFLAG("namespace", namespace),
    SFLAG("address", address),
    SFLAG("publish-binary", publish_binary),
    SFLAG("id", id),
    SFLAG("bundle", bundle),
    SFLAG("socket", socket),
    BFLAG("debug", debug),
    BFLAG("v", version),
    BFLAG("check-config", check_config),
    BFLAG("h", help),
    BFLAG("help", help),
};

static const struct flag_def *
flag_lookup(const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < sizeof(flag_defs) / sizeof(flag_defs[0]); i++)
		if (strlen(flag_defs[i].name) == len &&
		    memcmp(flag_defs[i].name, name, len) == 0)
			return &flag_defs[i];
	return NULL;
}

/* strconv.ParseBool's accepted spellings. */
static int
parse_go_bool(const char *s, bool *out)
{
	static const char *const t[] = {"1", "t", "T", "true", "TRUE", "True"};
	static const char *const f[] = {
	    "0", "f", "F", "false", "FALSE", "False"};
	size_t i;

	for (i = 0; i < 6; i++) {
		if (strcmp(s, t[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcmp(s, f[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -1;
}

int
shim_parse_args(
    int argc, char *const argv[], struct shim_opts *o, struct qb_error *err)
{
	const struct flag_def *fd;
	const char *arg, *name, *eq, *value;
	size_t namelen;
	int i;

	memset(o, 0, sizeof(*o));
	for (i = 1; i < argc; i++) {
		arg = argv[i];
		if (arg[0] != '-' || arg[1] == '\0') {
			o->action = arg;
			return 0;
		}
		name = arg + 1;
		if (name[0] == '-') {
			name++;
			if (name[0] == '\0') /* "--" ends the flags */
				break;
		}
		if (name[0] == '-' || name[0] == '=')
			return qb_seterr(
			    err, QB_E_INVALID, "bad flag syntax: %s", arg);
		eq = strchr(name, '=');
		namelen = eq != NULL ? (size_t)(eq - name) : strlen(name);
		if ((fd = flag_lookup(name, namelen)) == NULL)
			return qb_seterr(err, QB_E_INVALID,
			    "flag provided but not defined: -%.*s",
			    (int)namelen, name);
		if (fd->kind == FLAG_BOOL) {
			bool *b = (bool *)((char *)o + fd->off);
			if (eq == NULL)
				*b = true;
			else if (parse_go_bool(eq + 1, b) == -1)
				return qb_seterr(err, QB_E_INVALID,
				    "invalid boolean value \"%s\" for -%s",
				    eq + 1, fd->name);
			continue;
		}
		if (eq != NULL)
			value = eq + 1;
		else if (i + 1 < argc)
			value = argv[++i];
		else
			return qb_seterr(err, QB_E_INVALID,
			    "flag needs an argument: -%s", fd->name);
		if (strlen(value) >= fd->size)
			return qb_seterr(err, QB_E_INVALID,
			    "value of -%s is too long (%zu bytes, limit %zu)",
			    fd->name, strlen(value), fd->size - 1);
		memcpy((char *)o + fd->off, value, strlen(value) + 1);
	}
	/* "--" or the end: an action may still follow "--". */
	if (i < argc && strcmp(argv[i], "--") == 0 && i + 1 < argc)
		o->action = argv[i + 1];
	return 0;
}

/*
 * Go's path.Clean: collapse "//", drop ".", resolve ".." lexically (never
 * above the root of an absolute path), "" becomes ".".
 */
static int
path_clean(const char *in, char *out, size_t outlen)
{
	size_t r = 0, w = 0, n = strlen(in), dotdot;
	bool rooted = n > 0 && in[0] == '/';

	if (outlen < 2)
		return -1;
	if (rooted) {
		out[w++] = '/';
		r = 1;
	}
	dotdot = w;
	while (r < n) {
		if (in[r] == '/') {
			r++;
		} else if (in[r] == '.' && (r + 1 == n || in[r + 1] == '/')) {
			r++;
		} else if (in[r] == '.' && in[r + 1] == '.' &&
		           (r + 2 == n || in[r + 2] == '/')) {
			r += 2;
			if (w > dotdot) {
				w--;
				while (w > dotdot && out[w] != '/')
					w--;
			} else if (!rooted) {
				if (w > 0) {
					if (w + 1 >= outlen)
						return -1;
					out[w++] = '/';
				}
				if (w + 2 >= outlen)
					return -1;
				out[w++] = '.';
				out[w++] = '.';
				dotdot = w;
			}
		} else {
			if ((rooted && w != 1) || (!rooted && w != 0)) {
				if (w + 1 >= outlen)
					return -1;
				out[w++] = '/';
			}
			for (; r < n && in[r] != '/'; r++) {
				if (w + 1 >= outlen)
					return -1;
				out[w++] = in[r];
			}
		}
	}
	if (w == 0)
		out[w++] = '.';
	out[w] = '\0';
	return 0;
}

int
shim_path_join3(
    const char *a, const char *b, const char *c, char *out, size_t outlen)
{
	const char *el[3] = {a, b, c};
	char joined[3 * PATH_MAX];
	size_t w = 0, i, l;

	/* path.Join skips empty elements. */
	for (i = 0; i < 3; i++) {
		if (el[i] == NULL || el[i][0] == '\0')
			continue;
		l = strlen(el[i]);
		if (w + l + 2 > sizeof(joined)) {
			errno = ENAMETOOLONG;
			return -1;
		}
		if (w > 0)
			joined[w++] = '/';
		memcpy(joined + w, el[i], l);
		w += l;
	}
	if (w == 0) {
		if (outlen < 1) {
			errno = ENAMETOOLONG;
			return -1;
		}
		out[0] = '\0';
		return 0;
	}
	joined[w] = '\0';
	if (path_clean(joined, out, outlen) == -1) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

void
shim_sha256_hex(const void *buf, size_t len, char out[65])
{
	static const char hex[] = "0123456789abcdef";
	uint8_t d[SHA256_DIGEST_LENGTH];
	SHA2_CTX ctx;
	size_t i;

	SHA256Init(&ctx);
	SHA256Update(&ctx, buf, len);
	SHA256Final(d, &ctx);
	for (i = 0; i < SHA256_DIGEST_LENGTH; i++) {
		out[2 * i] = hex[d[i] >> 4];
		out[2 * i + 1] = hex[d[i] & 0xf];
	}
	out[64] = '\0';
}

int
shim_socket_path(const char *address, const char *ns, const char *group,
    char *path, size_t pathlen, char *uri, size_t urilen)
{
	char joined[PATH_MAX], hex[65];
	int n;

	if (shim_path_join3(address, ns, group, joined, sizeof(joined)) == -1)
		return -1;
	shim_sha256_hex(joined, strlen(joined), hex);
	n = snprintf(path, pathlen, "%s/%s", SHIM_SOCKET_DIR, hex);
	if (n < 0 || (size_t)n >= pathlen)
		goto toolong;
	if (uri != NULL) {
		n = snprintf(uri, urilen, "unix://%s", path);
		if (n < 0 || (size_t)n >= urilen)
			goto toolong;
	}
	return 0;
toolong:
	errno = ENAMETOOLONG;
	return -1;
}

int
shim_group_from_spec(const char *config_path, const char *id, char *group,
    size_t grouplen, struct qb_error *err)
{
	struct oci_spec_info si;

	if (oci_spec_info_file(config_path, id, &si, err) == -1)
		return -1;
	if (strlen(si.sandbox_id) >= grouplen)
		return qb_seterr(err, QB_E_INVALID,
		    "group id in %s is too long", config_path);
	memcpy(group, si.sandbox_id, strlen(si.sandbox_id) + 1);
	return 0;
}
