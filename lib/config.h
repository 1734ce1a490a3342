/*
 * /etc/qemubox/config.json (override: $QEMUBOX_CONFIG), parsed with json-c.
 * Every key the file accepts is a field here and is read by some code; unknown
 * keys are rejected. docs/CONFIGURATION.md documents each key, its default and
 * its rule. Durations are Go syntax in the file ("500ms", "5s", "1m") and
 * milliseconds here.
 */
#ifndef QEMUBOX_CONFIG_H
#define QEMUBOX_CONFIG_H

#include <limits.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

#include "lib/error.h"

#define QB_CONFIG_DEFAULT_PATH "/etc/qemubox/config.json"
#define QB_CONFIG_MAX_BIN_DIRS 8
/* security.vmmon_uid_range default: 65536 uids above the first 200000. */
#define QB_CONFIG_UID_FIRST 200000
#define QB_CONFIG_UID_LAST  265535

enum qb_transport {
	QB_TRANSPORT_AUTO,
	QB_TRANSPORT_VIRTIO_SERIAL,
	QB_TRANSPORT_VSOCK
};
enum qb_seccomp_mode { QB_SECCOMP_ENFORCE, QB_SECCOMP_LOG };

/*
 * A stability window: the file gives it either as a number of consecutive
 * samples (the seed project's form, e.g. 2) or as a duration ("10s"). The
 * parser resolves a duration against monitor_interval, so code reads only
 * `samples` (>= 1).
 */
struct qb_stability {
	unsigned samples;
	uint64_t ms; /* as written, 0 when given as a count */
};

struct qb_hotplug_config {
	bool enabled; /* cpu_hotplug.enabled / memory_hotplug.enabled */
	uint64_t monitor_interval_ms;
	double scale_up_threshold;   /* percent, (0,100] */
	double scale_down_threshold; /* percent, (0,100], < up */
	struct qb_stability scale_up_stability;
	struct qb_stability scale_down_stability;
	uint64_t scale_up_cooldown_ms;
	uint64_t scale_down_cooldown_ms;
	bool enable_scale_down;
	/* cpu_hotplug only: guest CPU throttling (percent of the interval
	 * the containers' cgroups were throttled) at or above which the
	 * controller neither adds nor removes vCPUs: the cgroup quota, not
	 * the vCPU count, bounds the workload then. */
	double scale_up_throttle_limit;
	/* memory_hotplug only */
	unsigned increment_size_mb; /* positive multiple of 128 */
	unsigned oom_safety_margin_mb;
};

struct qb_config {
	char path[PATH_MAX]; /* the file this came from, for messages */
	struct {
		char share_dir[PATH_MAX]; /* kernel/, initrd: /usr/share/qemubox
		                           */
		char state_dir[PATH_MAX]; /* /var/lib/qemubox */
		char log_dir[PATH_MAX];   /* /var/log/qemubox */
		char qemu_path[PATH_MAX]; /* /usr/bin/qemu-system-x86_64 */
		char qemu_share_path[PATH_MAX]; /* /usr/share/qemu (ROMs,
		                                   firmware) */
	} paths;
	struct {
		char vmm[16]; /* "qemu" */
		enum qb_transport transport;
		bool debug;
		unsigned boot_cpus; /* vCPUs at boot */
		unsigned
		    max_cpus; /* >= boot_cpus; > boot_cpus needs cpu_hotplug */
		unsigned memory_mb;           /* guest RAM at boot */
		unsigned max_memory_mb;       /* >= memory_mb */
		uint64_t boot_timeout_ms;     /* QEMU exec -> guest ready */
		uint64_t shutdown_timeout_ms; /* each step of ACPI -> quit ->
		                                 SIGKILL */
		bool keep_logs; /* keep <log_dir>/<id> after Delete */
		/* runtime.clone: VMs are cloned from a template that
		 * qemubox-tmpl boots and keeps (docs/PERFORMANCE.md) */
		bool clone;
		/* console.log rotates to console.log.1 at this size */
		unsigned console_log_max_kb;
		/* TCG translation buffer, MiB (-accel tcg,tb-size); 0: QEMU's
		 */
		unsigned tcg_tb_size_mb;
		/* the same for a clone (runtime.clone): it translates only
		 * its restore and container start, not a boot */
		unsigned clone_tcg_tb_size_mb;
		/* guest page_reporting.page_reporting_order; 0: kernel's */
		unsigned page_reporting_order;
	} runtime;
	struct {
		char cni_conf_dir[PATH_MAX];
		char cni_bin_dirs[QB_CONFIG_MAX_BIN_DIRS][PATH_MAX];
		unsigned n_cni_bin_dirs;
		uint64_t cni_timeout_ms;
	} network;
	struct {
		char vmmon_user[64];
		/* vmmon_uid_range "FIRST-LAST": one uid (= gid) per sandbox;
		 * 0-0 ("") = every sandbox runs as vmmon_user. */
		uint32_t vmmon_uid_first, vmmon_uid_last;
		char
		    cgroup_parent[PATH_MAX]; /* sandboxes without cgroupsPath */
		enum qb_seccomp_mode seccomp;
	} security;
	struct {
		uint64_t scratch_size_mb;    /* 0 = writable layer on tmpfs */
		uint64_t layer_cache_max_mb; /* 0 = unlimited */
		char compression[16];        /* "none" or "lz4" */
	} storage;
	struct qb_hotplug_config cpu_hotplug;
	struct qb_hotplug_config memory_hotplug;
};

/* Fill every field with its documented default. */
void qb_config_defaults(struct qb_config *cfg);
/* Path to load: $QEMUBOX_CONFIG or the default. */
const char *qb_config_path(void);
/*
 * Load and validate. On error `err->msg` reads
 *   config <file>: <key.path> (<value>) <rule>
 */
int qb_config_load(
    const char *path, struct qb_config *cfg, struct qb_error *err);
/*
 * The same, filling *cfg in place: on error it holds a partial
 * configuration. For the start-up of the per-sandbox programs, which stop
 * (or ignore cfg) on error: no 66 KiB scratch copy, 17 fewer pages touched
 * first (15-20 us of CPU each on this host).
 */
int qb_config_load_in_place(
    const char *path, struct qb_config *cfg, struct qb_error *err);
/* Parse from memory (used by the loader, the tests and the fuzzer). */
int qb_config_parse(const char *path, const char *buf, size_t len,
    struct qb_config *cfg, struct qb_error *err);
/*
 * The same without the checks that look at this machine (paths that must
 * exist): syntax, types, bounds and rules between keys only.
 */
int qb_config_parse_values(const char *path, const char *buf, size_t len,
    struct qb_config *cfg, struct qb_error *err);
/*
 * `--check-config`: loads qb_config_path(), prints "configuration OK" on
 * stdout and returns 0, or prints the error on stderr and returns 1.
 */
int qb_config_check_main(void);

#endif
