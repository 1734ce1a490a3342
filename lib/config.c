/*
 * /etc/qemubox/config.json: defaults, parsing (json-c), validation.
 *
 * One table lists every key the file accepts with its kind and bounds; the
 * parser walks the file's keys against it, so an unknown key or a value of
 * the wrong type can never be ignored. Rules that involve two keys run
 * after every key was read, filesystem checks last. The first violation is
 * the error, and its message always reads
 *   config <file>: <key.path> (<value as JSON>) <rule>
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "lib/config.h"

#define CONFIG_MAX_FILE_SIZE (1024 * 1024)
#define CONFIG_MAX_DEPTH     16
#define MS_PER_HOUR          (3600ULL * 1000)
#define MAX_MB               (1024ULL * 1024) /* 1 TiB in MiB: a generous sanity bound */

enum cfg_kind {
	CK_BOOL,
	CK_UINT,      /* unsigned or uint64_t, by size */
	CK_DURATION,  /* Go duration string -> uint64_t milliseconds */
	CK_PATH,      /* absolute path -> char[size] */
	CK_PATHLIST,  /* network.cni_bin_dirs */
	CK_ENUM,      /* one of choices -> int (index) */
	CK_CHOICE,    /* one of choices -> char[size] */
	CK_USER,      /* a user name -> char[size] */
	CK_PERCENT,   /* integer or fraction -> double; min 0 or 1: [0,100] or
	                 (0,100] */
	CK_STABILITY, /* sample count or duration -> struct qb_stability */
	CK_UIDRANGE,  /* security.vmmon_uid_range */
	CK_CGROUP,    /* a cgroup path -> char[size] */
};

struct cfg_key {
	const char *name;
	enum cfg_kind kind;
	size_t off;
	size_t size;
	uint64_t min, max, multiple; /* CK_UINT */
	const char *rule; /* CK_UINT: the message when out of bounds */
	const char *const *choices; /* CK_ENUM, CK_CHOICE: NULL-terminated */
};

struct cfg_section {
	const char *name;
	const struct cfg_key *keys;
};

/* Where the error goes and which file it names. */
struct cfg_ctx {
	const char *path;
	struct qb_error *err;
};

/* Copies a string known to fit (or cuts it); glibc 2.36 has no strlcpy. */
static void
copy_str(char *dst, size_t size, const char *src)
{
	size_t n = strnlen(src, size - 1);

	memcpy(dst, src, n);
	dst[n] = '\0';
}

#define SET_STR(field, s) copy_str(field, sizeof(field), s)

static const char *const transport_names[] = {
    "auto", "virtio-serial", "vsock", NULL};
static const char *const seccomp_names[] = {"enforce", "log", NULL};
static const char *const vmm_names[] = {"qemu", NULL};
static const char *const compression_names[] = {"none", "lz4", NULL};

#define F(field)  offsetof(struct qb_config, field)
#define FS(field) sizeof(((struct qb_config *)0)->field)

#define K_BOOL(n, field)                                    \
	{                                                   \
		.name = n, .kind = CK_BOOL, .off = F(field) \
	}
#define K_UINT(n, field, lo, hi, why)                                \
	{                                                            \
		.name = n, .kind = CK_UINT, .off = F(field),         \
		.size = FS(field), .min = lo, .max = hi, .rule = why \
	}
#define K_PERCENT(n, field, lo)                                           \
	{                                                                 \
		.name = n, .kind = CK_PERCENT, .off = F(field), .min = lo \
	}
#define K_STABILITY(n, field)                                    \
	{                                                        \
		.name = n, .kind = CK_STABILITY, .off = F(field) \
	}
#define K_DUR(n, field)                                         \
	{                                                       \
		.name = n, .kind = CK_DURATION, .off = F(field) \
	}
#define K_PATH(n, field)                                                       \
	{                                                                      \
		.name = n, .kind = CK_PATH, .off = F(field), .size = FS(field) \
	}
#define K_ENUM(n, field, names)                                               \
	{                                                                     \
		.name = n, .kind = CK_ENUM, .off = F(field), .choices = names \
	}
#define K_CHOICE(n, field, names)                              \
	{                                                      \
		.name = n, .kind = CK_CHOICE, .off = F(field), \
		.size = FS(field), .choices = names            \
	}

static const struct cfg_key paths_keys[] = {
    K_PATH("share_dir", paths.share_dir),
    K_PATH("state_dir", paths.state_dir),
    K_PATH("log_dir", paths.log_dir),
    K_PATH("qemu_path", paths.qemu_path),
    K_PATH("qemu_share_path", paths.qemu_share_path),
    {0},
};

static const struct cfg_key runtime_keys[] = {
    K_CHOICE("vmm", runtime.vmm, vmm_names),
    K_ENUM("transport", runtime.transport, transport_names),
    K_BOOL("debug", runtime.debug),
    K_UINT("boot_cpus", runtime.boot_cpus, 1, 255, "must be between 1 and 255"),
    K_UINT("max_cpus", runtime.max_cpus, 1, 255, "must be between 1 and 255"),
    K_UINT("memory_mb", runtime.memory_mb, 64, MAX_MB,
        "must be between 64 and 1048576"),
    K_UINT("max_memory_mb", runtime.max_memory_mb, 64, MAX_MB,
        "must be between 64 and 1048576"),
    K_DUR("boot_timeout", runtime.boot_timeout_ms),
    K_DUR("shutdown_timeout", runtime.shutdown_timeout_ms),
    K_BOOL("keep_logs", runtime.keep_logs),
    K_BOOL("clone", runtime.clone),
    K_UINT("console_log_max_kb", runtime.console_log_max_kb, 4, 262144,
        "must be between 4 and 262144"),
    K_UINT("tcg_tb_size_mb", runtime.tcg_tb_size_mb, 0, 4096,
        "must be between 0 (QEMU's default) and 4096"),
    K_UINT("clone_tcg_tb_size_mb", runtime.clone_tcg_tb_size_mb, 0, 4096,
        "must be between 0 (QEMU's default) and 4096"),
    K_UINT("page_reporting_order", runtime.page_reporting_order, 0, 10,
        "must be between 0 (the guest kernel's default) and 10"),
    {0},
};

static const struct cfg_key network_keys[] = {
    K_PATH("cni_conf_dir", network.cni_conf_dir),
    {.name = "cni_bin_dirs", .kind = CK_PATHLIST},
    K_DUR("cni_timeout", network.cni_timeout_ms),
    {0},
};

static const struct cfg_key security_keys[] = {
    {.name = "vmmon_user",
        .kind = CK_USER,
        .off = F(security.vmmon_user),
        .size = FS(security.vmmon_user)},
    {.name = "vmmon_uid_range", .kind = CK_UIDRANGE},
    {.name = "cgroup_parent",
        .kind = CK_CGROUP,
        .off = F(security.cgroup_parent),
        .size = FS(security.cgroup_parent)},
    K_ENUM("seccomp", security.seccomp, seccomp_names),
    {0},
};

static const struct cfg_key storage_keys[] = {
    K_UINT("scratch_size_mb", storage.scratch_size_mb, 0, MAX_MB,
        "must be between 0 and 1048576"),
    K_UINT("layer_cache_max_mb", storage.layer_cache_max_mb, 0, MAX_MB * 16,
        "must be between 0 and 16777216"),
    K_CHOICE("compression", storage.compression, compression_names),
    {0},
};

#define HOTPLUG_KEYS(s)                                                   \
	K_BOOL("enabled", s.enabled),                                     \
	    K_DUR("monitor_interval", s.monitor_interval_ms),             \
	    K_PERCENT("scale_up_threshold", s.scale_up_threshold, 1),     \
	    K_PERCENT("scale_down_threshold", s.scale_down_threshold, 1), \
	    K_STABILITY("scale_up_stability", s.scale_up_stability),      \
	    K_STABILITY("scale_down_stability", s.scale_down_stability),  \
	    K_DUR("scale_up_cooldown", s.scale_up_cooldown_ms),           \
	    K_DUR("scale_down_cooldown", s.scale_down_cooldown_ms),       \
	    K_BOOL("enable_scale_down", s.enable_scale_down)

static const struct cfg_key cpu_hotplug_keys[] = {
    HOTPLUG_KEYS(cpu_hotplug),
    K_PERCENT(
        "scale_up_throttle_limit", cpu_hotplug.scale_up_throttle_limit, 0),
    {0},
};

static const struct cfg_key memory_hotplug_keys[] = {
    HOTPLUG_KEYS(memory_hotplug),
    {.name = "increment_size_mb",
        .kind = CK_UINT,
        .off = F(memory_hotplug.increment_size_mb),
        .size = FS(memory_hotplug.increment_size_mb),
        .min = 128,
        .max = MAX_MB,
        .multiple = 128,
        .rule = "must be a positive multiple of 128"},
    K_UINT("oom_safety_margin_mb", memory_hotplug.oom_safety_margin_mb, 0,
        MAX_MB, "must be between 0 and 1048576"),
    {0},
};

static const struct cfg_section sections[] = {
    {"paths", paths_keys},
    {"runtime", runtime_keys},
    {"network", network_keys},
    {"security", security_keys},
    {"storage", storage_keys},
    {"cpu_hotplug", cpu_hotplug_keys},
    {"memory_hotplug", memory_hotplug_keys},
    {NULL, NULL},
};

/* The seed project's defaults (its examples/config.json), so a file
 * written for it behaves the same here. */
static void
hotplug_defaults(struct qb_hotplug_config *h, bool memory)
{
	h->enabled = false;
	h->monitor_interval_ms = memory ? 10000 : 5000;
	h->scale_up_threshold = memory ? 85.0 : 80.0;
	h->scale_down_threshold = memory ? 60.0 : 50.0;
	h->scale_up_stability.samples = memory ? 3 : 2;
	h->scale_down_stability.samples = 6;
	h->scale_up_cooldown_ms = memory ? 30000 : 10000;
	h->scale_down_cooldown_ms = memory ? 60000 : 30000;
	/* Unplugging DIMMs fails whenever the guest pinned a page there. */
	h->enable_scale_down = !memory;
	h->scale_up_throttle_limit = 5.0;
	h->increment_size_mb = 128;
	h->oom_safety_margin_mb = 128;
}

void
qb_config_defaults(struct qb_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	SET_STR(cfg->paths.share_dir, "/usr/share/qemubox");
	SET_STR(cfg->paths.state_dir, "/var/lib/qemubox");
	SET_STR(cfg->paths.log_dir, "/var/log/qemubox");
	SET_STR(cfg->paths.qemu_path, "/usr/bin/qemu-system-x86_64");
	SET_STR(cfg->paths.qemu_share_path, "/usr/share/qemu");

	SET_STR(cfg->runtime.vmm, "qemu");
	cfg->runtime.transport = QB_TRANSPORT_AUTO;
	cfg->runtime.debug = false;
	cfg->runtime.boot_cpus = 1;
	cfg->runtime.max_cpus = 1;
	cfg->runtime.memory_mb = 512;
	cfg->runtime.max_memory_mb = 512;
	cfg->runtime.boot_timeout_ms = 30000;
	cfg->runtime.shutdown_timeout_ms = 5000;
	cfg->runtime.console_log_max_kb = 16384;
	/* docs/PERFORMANCE.md: ~40 MiB less per VM, no measured start cost. */
	cfg->runtime.tcg_tb_size_mb = 32;
	/* docs/PERFORMANCE.md: a clone's start fills ~35 MiB; 20 flushes
	 * once, as 32 does, and saves 12 MiB per idle clone. */
	cfg->runtime.clone_tcg_tb_size_mb = 20;
	/* docs/PERFORMANCE.md: ~10 MiB less guest RAM per VM than 9. */
	cfg->runtime.page_reporting_order = 5;

	SET_STR(cfg->network.cni_conf_dir, "/etc/cni/net.d");
	SET_STR(cfg->network.cni_bin_dirs[0], "/opt/cni/bin");
	SET_STR(cfg->network.cni_bin_dirs[1], "/usr/lib/cni");
	cfg->network.n_cni_bin_dirs = 2;
	cfg->network.cni_timeout_ms = 30000;

	SET_STR(cfg->security.vmmon_user, "qemubox");
	cfg->security.vmmon_uid_first = QB_CONFIG_UID_FIRST;
	cfg->security.vmmon_uid_last = QB_CONFIG_UID_LAST;
	SET_STR(cfg->security.cgroup_parent, "/qemubox");
	cfg->security.seccomp = QB_SECCOMP_ENFORCE;

	cfg->storage.scratch_size_mb = 0;
	cfg->storage.layer_cache_max_mb = 0;
	SET_STR(cfg->storage.compression, "none");

	hotplug_defaults(&cfg->cpu_hotplug, false);
	hotplug_defaults(&cfg->memory_hotplug, true);
}

const char *
qb_config_path(void)
{
	const char *p = getenv("QEMUBOX_CONFIG");

	return (p != NULL && *p != '\0') ? p : QB_CONFIG_DEFAULT_PATH;
}

/* `config <file>: <key> (<value>) <rule>`; value is the JSON text, cut. */
static int cfg_fail(struct cfg_ctx *ctx, const char *key,
    struct json_object *val, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
cfg_fail(struct cfg_ctx *ctx, const char *key, struct json_object *val,
    const char *fmt, ...)
{
	char rule[512], shown[128];
	const char *js;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(rule, sizeof(rule), fmt, ap);
	va_end(ap);
	js = json_object_to_json_string_ext(
	    val, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	if (strlen(js) >= sizeof(shown)) {
		memcpy(shown, js, sizeof(shown) - 4);
		memcpy(shown + sizeof(shown) - 4, "...", 4);
	} else {
		copy_str(shown, sizeof(shown), js);
	}
	return qb_seterr(ctx->err, QB_E_INVALID, "config %s: %s (%s) %s",
	    ctx->path, key, shown, rule);
}

/* The same, for a value we only have as a number (cross-key rules). */
static int cfg_fail_num(struct cfg_ctx *ctx, const char *key, uint64_t v,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int
cfg_fail_num(
    struct cfg_ctx *ctx, const char *key, uint64_t v, const char *fmt, ...)
{
	char rule[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(rule, sizeof(rule), fmt, ap);
	va_end(ap);
	return qb_seterr(ctx->err, QB_E_INVALID, "config %s: %s (%llu) %s",
	    ctx->path, key, (unsigned long long)v, rule);
}

static int
cfg_fail_str(
    struct cfg_ctx *ctx, const char *key, const char *v, const char *rule)
{
	struct json_object *s;
	int rc;

	/* Render as JSON, like every other value in a message. */
	s = json_object_new_string(v);
	rc = cfg_fail(ctx, key, s, "%s", rule);
	json_object_put(s);
	return rc;
}

/*
 * Go's time.ParseDuration grammar: [-+]? ( decimal unit )+ | "0", units ns
 * us µs μs ms s m h. Returns nanoseconds, saturated at UINT64_MAX; -1 on a
 * syntax error; *neg set for a leading '-'.
 */
static int
parse_go_duration(const char *s, uint64_t *ns_out, int *neg)
{
	static const struct {
		const char *name;
		uint64_t ns;
	} units[] = {
	    {"ns", 1ULL},
	    {"us", 1000ULL},
	    {"\xc2\xb5s", 1000ULL}, /* U+00B5 micro sign */
	    {"\xce\xbcs", 1000ULL}, /* U+03BC greek mu */
	    {"ms", 1000000ULL},
	    {"s", 1000000000ULL},
	    {"m", 60ULL * 1000000000ULL},
	    {"h", 3600ULL * 1000000000ULL},
	};
	uint64_t total = 0, ip, unit, part;
	double frac, scale;
	size_t i, best, bestlen, ulen;
	int digits, saturated = 0;

	*neg = 0;
	if (*s == '-' || *s == '+') {
		*neg = (*s == '-');
		s++;
	}
	if (strcmp(s, "0") == 0) {
		*ns_out = 0;
		return 0;
	}
	if (*s == '\0')
		return -1;
	while (*s != '\0') {
		ip = 0;
		digits = 0;
		while (*s >= '0' && *s <= '9') {
			if (ip > (UINT64_MAX - 9) / 10)
				saturated = 1;
			else
				ip = ip * 10 + (uint64_t)(*s - '0');
			s++;
			digits++;
		}
		frac = 0;
		if (*s == '.') {
			s++;
			scale = 0.1;
			while (*s >= '0' && *s <= '9') {
				frac += (*s - '0') * scale;
				scale /= 10;
				s++;
				digits++;
			}
		}
		if (digits == 0)
			return -1;
		/* Longest unit that matches ("ms" before "m"). */
		best = bestlen = 0;
		for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
			ulen = strlen(units[i].name);
			if (strncmp(s, units[i].name, ulen) == 0 &&
			    ulen > bestlen) {
				best = i;
				bestlen = ulen;
			}
		}
		if (bestlen == 0)
			return -1;
		s += bestlen;
		unit = units[best].ns;
		if (ip > UINT64_MAX / unit) {
			saturated = 1;
			continue;
		}
		part = ip * unit + (uint64_t)(frac * (double)unit);
		if (part > UINT64_MAX - total)
			saturated = 1;
		else
			total += part;
	}
	*ns_out = saturated ? UINT64_MAX : total;
	return 0;
}

static int
read_bool(
    struct cfg_ctx *ctx, const char *key, struct json_object *v, bool *dst)
{
	if (!json_object_is_type(v, json_type_boolean))
		return cfg_fail(ctx, key, v, "must be true or false");
	*dst = json_object_get_boolean(v);
	return 0;
}

static int
read_uint(struct cfg_ctx *ctx, const struct cfg_key *k, const char *key,
    struct json_object *v, void *dst)
{
	int64_t n;
	uint64_t u;

	if (!json_object_is_type(v, json_type_int))
		return cfg_fail(ctx, key, v, "must be an integer");
	n = json_object_get_int64(v);
	/* json-c saturates at INT64_MAX: beyond every bound anyway. */
	if (n < 0 || (uint64_t)n < k->min || (uint64_t)n > k->max)
		return cfg_fail(ctx, key, v, "%s", k->rule);
	u = (uint64_t)n;
	if (k->multiple != 0 && u % k->multiple != 0)
		return cfg_fail(ctx, key, v, "%s", k->rule);
	if (k->size == sizeof(uint64_t)) {
		memcpy(dst, &u, sizeof(u));
	} else {
		unsigned int w = (unsigned int)u;

		memcpy(dst, &w, sizeof(w));
	}
	return 0;
}

static int
read_percent(struct cfg_ctx *ctx, const struct cfg_key *k, const char *key,
    struct json_object *v, double *dst)
{
	double d;

	if (!json_object_is_type(v, json_type_int) &&
	    !json_object_is_type(v, json_type_double))
		return cfg_fail(ctx, key, v, "must be a number");
	d = json_object_get_double(v);
	if (k->min == 0 ? !(d >= 0.0 && d <= 100.0) : !(d > 0.0 && d <= 100.0))
		return cfg_fail(ctx, key, v,
		    k->min == 0 ? "must be between 0 and 100"
		                : "must be above 0 and at most 100");
	*dst = d;
	return 0;
}

static int read_duration(
    struct cfg_ctx *ctx, const char *key, struct json_object *v, uint64_t *dst);

/* A count of samples (the seed's form) or a duration. */
static int
read_stability(struct cfg_ctx *ctx, const char *key, struct json_object *v,
    struct qb_stability *dst)
{
	int64_t n;

	if (json_object_is_type(v, json_type_int)) {
		n = json_object_get_int64(v);
		if (n < 1 || n > 1000)
			return cfg_fail(ctx, key, v,
			    "must be a sample count between 1 and 1000 or a "
			    "duration such as \"10s\"");
		dst->samples = (unsigned)n;
		dst->ms = 0;
		return 0;
	}
	if (json_object_is_type(v, json_type_string)) {
		dst->samples = 0;
		return read_duration(ctx, key, v, &dst->ms);
	}
	return cfg_fail(ctx, key, v,
	    "must be a sample count (e.g. 3) or a duration such as \"10s\"");
}

static int
read_duration(
    struct cfg_ctx *ctx, const char *key, struct json_object *v, uint64_t *dst)
{
	uint64_t ns;
	int neg;

	if (!json_object_is_type(v, json_type_string) ||
	    parse_go_duration(json_object_get_string(v), &ns, &neg) == -1)
		return cfg_fail(ctx, key, v,
		    "must be a duration such as \"500ms\", \"5s\" or "
		    "\"1h30m\"");
	if (neg || ns == 0)
		return cfg_fail(ctx, key, v, "must be greater than 0");
	if (ns > MS_PER_HOUR * 1000000ULL)
		return cfg_fail(ctx, key, v, "must be at most 1h");
	if (ns < 1000000ULL)
		return cfg_fail(ctx, key, v, "must be at least 1ms");
	*dst = ns / 1000000ULL;
	return 0;
}

/* A JSON string without NUL bytes that fits in size bytes. */
static int
read_string(struct cfg_ctx *ctx, const char *key, struct json_object *v,
    char *dst, size_t size, const char **out)
{
	const char *s;
	size_t len;

	if (!json_object_is_type(v, json_type_string))
		return cfg_fail(ctx, key, v, "must be a string");
	s = json_object_get_string(v);
	len = (size_t)json_object_get_string_len(v);
	if (strlen(s) != len)
		return cfg_fail(
		    ctx, key, v, "must not contain a NUL character");
	if (len >= size)
		return cfg_fail(
		    ctx, key, v, "must be shorter than %zu bytes", size);
	if (dst != NULL)
		memcpy(dst, s, len + 1);
	if (out != NULL)
		*out = s;
	return 0;
}

static int
read_path(struct cfg_ctx *ctx, const char *key, struct json_object *v,
    char *dst, size_t size)
{
	const char *s;

	if (read_string(ctx, key, v, NULL, size, &s) == -1)
		return -1;
	/* The seed project writes "" for "find it yourself": the default. */
	if (s[0] == '\0')
		return 0;
	if (s[0] != '/')
		return cfg_fail(ctx, key, v, "must be an absolute path");
	copy_str(dst, size, s);
	return 0;
}

static int
read_choice(struct cfg_ctx *ctx, const struct cfg_key *k, const char *key,
    struct json_object *v, int *index)
{
	char list[256];
	const char *s;
	size_t i, off;

	list[0] = '\0';
	for (i = 0, off = 0; k->choices[i] != NULL && off < sizeof(list); i++)
		off += (size_t)snprintf(list + off, sizeof(list) - off,
		    "%s\"%s\"", i > 0 ? ", " : "", k->choices[i]);
	if (!json_object_is_type(v, json_type_string))
		return cfg_fail(ctx, key, v, "must be one of %s", list);
	s = json_object_get_string(v);
	for (i = 0; k->choices[i] != NULL; i++) {
		if ((size_t)json_object_get_string_len(v) ==
		        strlen(k->choices[i]) &&
		    strcmp(s, k->choices[i]) == 0) {
			*index = (int)i;
			return 0;
		}
	}
	return cfg_fail(ctx, key, v, "must be one of %s", list);
}

static int
read_user(struct cfg_ctx *ctx, const char *key, struct json_object *v,
    char *dst, size_t size)
{
	const char *s, *p;

	if (read_string(ctx, key, v, NULL, size, &s) == -1)
		return -1;
	/* The portable user name set (useradd's default NAME_REGEX). */
	for (p = s; *p != '\0'; p++) {
		if ((*p >= 'a' && *p <= 'z') || *p == '_' ||
		    (p != s && ((*p >= '0' && *p <= '9') || *p == '-')))
			continue;
		break;
	}
	if (s[0] == '\0' || *p != '\0' || strlen(s) > 32)
		return cfg_fail(ctx, key, v,
		    "must be a user name ([a-z_][a-z0-9_-]*, at most 32 "
		    "characters)");
	copy_str(dst, size, s);
	return 0;
}

/*
 * "FIRST-LAST", decimal: the uids (and gids of the same number) handed to
 * sandboxes. Above every account (65536) and below 2^31 - 1 (tools that
 * read ids as signed); "" turns per-sandbox uids off.
 */
static int
read_uid_range(struct cfg_ctx *ctx, const char *key, struct json_object *v,
    struct qb_config *cfg)
{
	unsigned long long first, last;
	const char *s;
	char *end;

	if (read_string(ctx, key, v, NULL, 32, &s) == -1)
		return -1;
	if (s[0] == '\0') {
		cfg->security.vmmon_uid_first = cfg->security.vmmon_uid_last =
		    0;
		return 0;
	}
	if (s[0] < '0' || s[0] > '9')
		goto bad;
	errno = 0;
	first = strtoull(s, &end, 10);
	if (errno != 0 || *end != '-' || end[1] < '0' || end[1] > '9')
		goto bad;
	last = strtoull(end + 1, &end, 10);
	if (errno != 0 || *end != '\0')
		goto bad;
	if (first < 65536 || last > 2147483646ULL || last < first)
		goto bad;
	cfg->security.vmmon_uid_first = (uint32_t)first;
	cfg->security.vmmon_uid_last = (uint32_t)last;
	return 0;
bad:
	return cfg_fail(ctx, key, v,
	    "must be \"FIRST-LAST\" with 65536 <= FIRST <= LAST <= "
	    "2147483646, or \"\" for one shared vmmon_user");
}

/* An absolute cgroup path: [A-Za-z0-9_.:@-] components, no "." or "..". */
static int
read_cgroup(struct cfg_ctx *ctx, const char *key, struct json_object *v,
    char *dst, size_t size)
{
	const char *s, *p;

	if (read_string(ctx, key, v, NULL, size, &s) == -1)
		return -1;
	if (s[0] != '/' || s[1] == '\0' || strstr(s, "//") != NULL ||
	    strstr(s, "/./") != NULL || strstr(s, "/../") != NULL)
		goto bad;
	for (p = s; *p != '\0'; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		        (*p >= '0' && *p <= '9') || strchr("/_.:@-", *p)))
			goto bad;
	p = strrchr(s, '/');
	if (p[1] == '\0' || strcmp(p, "/.") == 0 || strcmp(p, "/..") == 0)
		goto bad;
	copy_str(dst, size, s);
	return 0;
bad:
	return cfg_fail(ctx, key, v,
	    "must be an absolute cgroup path (components of "
	    "[A-Za-z0-9_.:@-], no \".\" or \"..\", no trailing /)");
}

static int
read_pathlist(struct cfg_ctx *ctx, const char *key, struct json_object *v,
    struct qb_config *cfg)
{
	char ekey[300];
	size_t i, n;

	if (!json_object_is_type(v, json_type_array))
		return cfg_fail(
		    ctx, key, v, "must be a list of absolute paths");
	n = json_object_array_length(v);
	if (n == 0 || n > QB_CONFIG_MAX_BIN_DIRS)
		return cfg_fail(ctx, key, v, "must list between 1 and %d paths",
		    QB_CONFIG_MAX_BIN_DIRS);
	for (i = 0; i < n; i++) {
		snprintf(ekey, sizeof(ekey), "%s[%zu]", key, i);
		if (read_path(ctx, ekey, json_object_array_get_idx(v, i),
		        cfg->network.cni_bin_dirs[i],
		        sizeof(cfg->network.cni_bin_dirs[i])) == -1)
			return -1;
	}
	for (; i < QB_CONFIG_MAX_BIN_DIRS; i++)
		cfg->network.cni_bin_dirs[i][0] = '\0';
	cfg->network.n_cni_bin_dirs = (unsigned int)n;
	return 0;
}

static int
read_key(struct cfg_ctx *ctx, const struct cfg_key *k, const char *key,
    struct json_object *v, struct qb_config *cfg)
{
	char *field = (char *)cfg + k->off;
	int idx;

	switch (k->kind) {
	case CK_BOOL:
		return read_bool(ctx, key, v, (bool *)(void *)field);
	case CK_UINT:
		return read_uint(ctx, k, key, v, field);
	case CK_DURATION:
		return read_duration(ctx, key, v, (uint64_t *)(void *)field);
	case CK_PERCENT:
		return read_percent(ctx, k, key, v, (double *)(void *)field);
	case CK_STABILITY:
		return read_stability(
		    ctx, key, v, (struct qb_stability *)(void *)field);
	case CK_PATH:
		return read_path(ctx, key, v, field, k->size);
	case CK_PATHLIST:
		return read_pathlist(ctx, key, v, cfg);
	case CK_USER:
		return read_user(ctx, key, v, field, k->size);
	case CK_UIDRANGE:
		return read_uid_range(ctx, key, v, cfg);
	case CK_CGROUP:
		return read_cgroup(ctx, key, v, field, k->size);
	case CK_ENUM:
		if (read_choice(ctx, k, key, v, &idx) == -1)
			return -1;
		memcpy(field, &idx, sizeof(idx));
		return 0;
	case CK_CHOICE:
		if (read_choice(ctx, k, key, v, &idx) == -1)
			return -1;
		copy_str(field, k->size, k->choices[idx]);
		return 0;
	}
	return cfg_fail(ctx, key, v, "has no reader (bug)");
}

static int
read_section(struct cfg_ctx *ctx, const struct cfg_section *sec,
    struct json_object *obj, struct qb_config *cfg)
{
	const struct cfg_key *k;
	char key[256];

	if (!json_object_is_type(obj, json_type_object))
		return cfg_fail(ctx, sec->name, obj, "must be an object");
	json_object_object_foreach(obj, name, val)
	{
		snprintf(key, sizeof(key), "%s.%s", sec->name, name);
		for (k = sec->keys; k->name != NULL; k++)
			if (strcmp(k->name, name) == 0)
				break;
		if (k->name == NULL)
			return cfg_fail(ctx, key, val, "is not a known key");
		if (read_key(ctx, k, key, val, cfg) == -1)
			return -1;
	}
	return 0;
}

/* A window given as a duration becomes whole samples, rounded up. */
static void
resolve_stability(struct qb_stability *st, uint64_t interval_ms)
{
	if (st->ms != 0)
		st->samples =
		    (unsigned)((st->ms + interval_ms - 1) / interval_ms);
	if (st->samples == 0)
		st->samples = 1;
}

static int
check_hotplug(
    struct cfg_ctx *ctx, const char *name, struct qb_hotplug_config *h)
{
	char key[64];

	if (h->scale_down_threshold >= h->scale_up_threshold) {
		snprintf(key, sizeof(key), "%s.scale_down_threshold", name);
		return qb_seterr(ctx->err, QB_E_INVALID,
		    "config %s: %s (%g) must be below scale_up_threshold (%g)",
		    ctx->path, key, h->scale_down_threshold,
		    h->scale_up_threshold);
	}
	resolve_stability(&h->scale_up_stability, h->monitor_interval_ms);
	resolve_stability(&h->scale_down_stability, h->monitor_interval_ms);
	return 0;
}

/* Rules between keys, after every key has its final value. */
static int
check_cross(struct cfg_ctx *ctx, struct qb_config *cfg)
{
	if (check_hotplug(ctx, "cpu_hotplug", &cfg->cpu_hotplug) == -1 ||
	    check_hotplug(ctx, "memory_hotplug", &cfg->memory_hotplug) == -1)
		return -1;
	if (cfg->runtime.max_cpus < cfg->runtime.boot_cpus)
		return cfg_fail_num(ctx, "runtime.max_cpus",
		    cfg->runtime.max_cpus, "must not be below boot_cpus (%u)",
		    cfg->runtime.boot_cpus);
	if (cfg->runtime.max_cpus > cfg->runtime.boot_cpus &&
	    !cfg->cpu_hotplug.enabled)
		return cfg_fail_num(ctx, "runtime.max_cpus",
		    cfg->runtime.max_cpus,
		    "must equal boot_cpus (%u) unless cpu_hotplug.enabled is "
		    "true",
		    cfg->runtime.boot_cpus);
	if (cfg->runtime.max_memory_mb < cfg->runtime.memory_mb)
		return cfg_fail_num(ctx, "runtime.max_memory_mb",
		    cfg->runtime.max_memory_mb,
		    "must not be below memory_mb (%u)", cfg->runtime.memory_mb);
	if (cfg->runtime.max_memory_mb > cfg->runtime.memory_mb &&
	    !cfg->memory_hotplug.enabled)
		return cfg_fail_num(ctx, "runtime.max_memory_mb",
		    cfg->runtime.max_memory_mb,
		    "must equal memory_mb (%u) unless memory_hotplug.enabled "
		    "is true",
		    cfg->runtime.memory_mb);
	/* A clone is its template's VM: no vCPU or DIMM slots to grow. */
	if (cfg->runtime.clone &&
	    (cfg->runtime.max_cpus > cfg->runtime.boot_cpus ||
	        cfg->runtime.max_memory_mb > cfg->runtime.memory_mb))
		return qb_seterr(ctx->err, QB_E_INVALID,
		    "config %s: runtime.clone (true) cannot be used with "
		    "max_cpus above boot_cpus or max_memory_mb above "
		    "memory_mb (a cloned VM has no CPU or memory hotplug)",
		    ctx->path);
	return 0;
}

static int
is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int
parent_is_dir(const char *path)
{
	char parent[PATH_MAX];
	char *slash;
	size_t len;

	copy_str(parent, sizeof(parent), path);
	/* "/var/lib/qemubox/" names the same directory as without the '/'. */
	len = strlen(parent);
	while (len > 1 && parent[len - 1] == '/')
		parent[--len] = '\0';
	slash = strrchr(parent, '/');
	if (slash == parent)
		slash[1] = '\0';
	else if (slash != NULL)
		*slash = '\0';
	return is_dir(parent);
}

/* Last, since it depends on the machine and not on the file. */
static int
check_paths(struct cfg_ctx *ctx, const struct qb_config *cfg)
{
	struct stat st;

	if (!is_dir(cfg->paths.share_dir))
		return cfg_fail_str(ctx, "paths.share_dir",
		    cfg->paths.share_dir, "must be an existing directory");
	if (!parent_is_dir(cfg->paths.state_dir))
		return cfg_fail_str(ctx, "paths.state_dir",
		    cfg->paths.state_dir, "must be in an existing directory");
	if (!parent_is_dir(cfg->paths.log_dir))
		return cfg_fail_str(ctx, "paths.log_dir", cfg->paths.log_dir,
		    "must be in an existing directory");
	if (stat(cfg->paths.qemu_path, &st) == -1 || !S_ISREG(st.st_mode) ||
	    (st.st_mode & 0111) == 0 ||
	    access(cfg->paths.qemu_path, X_OK) == -1)
		return cfg_fail_str(ctx, "paths.qemu_path",
		    cfg->paths.qemu_path, "must be an executable file");
	return 0;
}

static int
parse_json(
    struct cfg_ctx *ctx, const char *buf, size_t len, struct json_object **out)
{
	struct json_tokener *tok;
	struct json_object *root;
	enum json_tokener_error jerr;
	size_t end, i, line = 1;

	*out = NULL;
	if (memchr(buf, '\0', len) != NULL)
		return qb_seterr(ctx->err, QB_E_INVALID,
		    "config %s: contains a NUL byte", ctx->path);
	if (len > INT_MAX)
		return qb_seterr(ctx->err, QB_E_INVALID,
		    "config %s: is too large", ctx->path);
	if ((tok = json_tokener_new_ex(CONFIG_MAX_DEPTH)) == NULL)
		return qb_seterr(ctx->err, QB_E_INTERNAL,
		    "config %s: out of memory", ctx->path);
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	root = json_tokener_parse_ex(tok, buf, (int)len);
	jerr = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	if (root == NULL && jerr == json_tokener_continue)
		jerr = json_tokener_error_parse_eof;
	if (jerr != json_tokener_success) {
		for (i = 0; i < end && i < len; i++)
			if (buf[i] == '\n')
				line++;
		json_tokener_free(tok);
		json_object_put(root);
		return qb_seterr(ctx->err, QB_E_INVALID,
		    "config %s: line %zu: invalid JSON: %s", ctx->path, line,
		    json_tokener_error_desc(jerr));
	}
	json_tokener_free(tok);
	for (i = end; i < len; i++) {
		if (buf[i] != ' ' && buf[i] != '\t' && buf[i] != '\n' &&
		    buf[i] != '\r') {
			json_object_put(root);
			return qb_seterr(ctx->err, QB_E_INVALID,
			    "config %s: invalid JSON: data after the top-level "
			    "object",
			    ctx->path);
		}
	}
	if (!json_object_is_type(root, json_type_object)) {
		cfg_fail(ctx, "(top level)", root, "must be an object");
		json_object_put(root);
		return -1;
	}
	*out = root;
	return 0;
}

/*
 * Defaults, then the file's values and the cross-key rules, into out (the
 * caller's scratch copy: what it hands on only on success). qb_config is
 * 66 KiB and each page a process touches first costs it 15-20 us on this
 * host (docs/PERFORMANCE.md), so a load fills one scratch copy, not two.
 */
static int
parse_values_into(
    struct cfg_ctx *ctx, const char *buf, size_t len, struct qb_config *out)
{
	struct json_object *root = NULL;
	const struct cfg_section *sec;
	int rc = -1;

	qb_config_defaults(out);
	copy_str(out->path, sizeof(out->path), ctx->path);
	if (parse_json(ctx, buf, len, &root) == -1)
		goto out;

	json_object_object_foreach(root, name, val)
	{
		for (sec = sections; sec->name != NULL; sec++)
			if (strcmp(sec->name, name) == 0)
				break;
		if (sec->name == NULL) {
			cfg_fail(ctx, name, val, "is not a known section");
			goto out;
		}
		if (read_section(ctx, sec, val, out) == -1)
			goto out;
	}
	if (check_cross(ctx, out) == -1)
		goto out;
	rc = 0;
out:
	json_object_put(root);
	return rc;
}

/* The file's own values; *cfg is written only on success, unless
 * in_place. */
static int
parse_checked(const char *path, const char *buf, size_t len,
    struct qb_config *cfg, struct qb_error *err, bool paths, bool in_place)
{
	struct cfg_ctx ctx = {.path = path, .err = err};
	struct qb_config *tmp = cfg;
	int rc = -1;

	if (!in_place && (tmp = malloc(sizeof(*tmp))) == NULL)
		return qb_seterr(
		    err, QB_E_INTERNAL, "config %s: out of memory", path);
	if (parse_values_into(&ctx, buf, len, tmp) == -1)
		goto out;
	if (paths && check_paths(&ctx, tmp) == -1)
		goto out;
	if (!in_place)
		memcpy(cfg, tmp, sizeof(*cfg));
	rc = 0;
out:
	if (!in_place)
		free(tmp);
	return rc;
}

int
qb_config_parse_values(const char *path, const char *buf, size_t len,
    struct qb_config *cfg, struct qb_error *err)
{
	return parse_checked(path, buf, len, cfg, err, false, false);
}

int
qb_config_parse(const char *path, const char *buf, size_t len,
    struct qb_config *cfg, struct qb_error *err)
{
	return parse_checked(path, buf, len, cfg, err, true, false);
}

static int
load(const char *path, struct qb_config *cfg, struct qb_error *err,
    bool in_place)
{
	struct stat st;
	char *buf = NULL;
	size_t off = 0;
	ssize_t n;
	int fd, rc = -1;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return qb_seterr(err, QB_E_INVALID,
		    "config %s: cannot open: %s", path, strerror(errno));
	if (fstat(fd, &st) == -1) {
		qb_seterr(err, QB_E_INVALID, "config %s: cannot stat: %s", path,
		    strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		qb_seterr(err, QB_E_INVALID, "config %s: is not a regular file",
		    path);
		goto out;
	}
	if (st.st_size > CONFIG_MAX_FILE_SIZE) {
		qb_seterr(err, QB_E_INVALID,
		    "config %s: is larger than %d bytes", path,
		    CONFIG_MAX_FILE_SIZE);
		goto out;
	}
	/* One byte more than the limit tells a file that grew meanwhile. */
	if ((buf = malloc(CONFIG_MAX_FILE_SIZE + 1)) == NULL) {
		qb_seterr(err, QB_E_INTERNAL, "config %s: out of memory", path);
		goto out;
	}
	for (;;) {
		n = read(fd, buf + off, CONFIG_MAX_FILE_SIZE + 1 - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			qb_seterr(err, QB_E_INVALID,
			    "config %s: cannot read: %s", path,
			    strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		off += (size_t)n;
		if (off > CONFIG_MAX_FILE_SIZE) {
			qb_seterr(err, QB_E_INVALID,
			    "config %s: is larger than %d bytes", path,
			    CONFIG_MAX_FILE_SIZE);
			goto out;
		}
	}
	rc = parse_checked(path, buf, off, cfg, err, true, in_place);
out:
	free(buf);
	close(fd);
	return rc;
}

int
qb_config_load(const char *path, struct qb_config *cfg, struct qb_error *err)
{
	return load(path, cfg, err, false);
}

int
qb_config_load_in_place(
    const char *path, struct qb_config *cfg, struct qb_error *err)
{
	return load(path, cfg, err, true);
}

int
qb_config_check_main(void)
{
	struct qb_config *cfg;
	struct qb_error err;
	int rc;

	qb_clearerr(&err);
	if ((cfg = malloc(sizeof(*cfg))) == NULL) {
		fprintf(stderr, "config: out of memory\n");
		return 1;
	}
	rc = qb_config_load(qb_config_path(), cfg, &err);
	free(cfg);
	if (rc == -1) {
		fprintf(stderr, "%s\n", err.msg);
		return 1;
	}
	printf("configuration OK\n");
	fflush(stdout);
	return 0;
}
