# shellcheck shell=bash
# A scratch qemubox installation for the demo, the integration tests and the
# benchmark (source this file after tests/lib/containerd.sh).
#
#   qb_setup              make install into a per-run prefix, write config.json
#                         and a CNI conflist there; exports QEMUBOX_CONFIG and
#                         points the containerd harness (CTD_BIN) at it
#   qb_write_config       rewrite config.json (QB_STORAGE_JSON: storage options,
#                         QB_RUNTIME_JSON: runtime members, QB_SECTIONS_JSON:
#                         more sections)
#   qb_teardown           remove it (after ctd_stop)
#   qb_run ARGS...        ctd_ctr run --rm --runtime io.containerd.qemubox.v1 ARGS...
#   qb_suite_start NAME   for a TAP suite: qb_setup, ctd_start, busybox import;
#                         prints the TAP line and exits when one fails; sets
#                         IMG and WORK ($QB_DIR/work)
#   qb_wait_status ID STATE [SECS]   task ID reaches STATE (RUNNING, STOPPED...)
#   qb_remove ID          kill, delete task, container and snapshot; quiet
#   qb_state_left         state-dir entries left once every sandbox is gone
#   qb_procs_left         after up to 10 s, "PID:cmdline" of each process still
#                         running from the scratch prefix (empty: none)
#   qb_prefix_procs       the same, now (but the pids a qb_keep_pids function,
#                         if the suite defines one, prints: a template holder)
#
# QB_BRIDGE/QB_SUBNET default to a bridge name and /24 chosen per run so two
# runs on one machine do not share addresses; the demo passes the example's
# qemubox0 / 10.88.0.0/16.

QB_TOP=${QB_TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
QB_RUNTIME=io.containerd.qemubox.v1
QB_DIR=
# Container ids of a suite start with $QB_T: the sandbox netns (qemubox-<id>)
# is host-wide, so two runs of a suite on one machine must not share ids.
QB_T=${QB_T:-t$$}

qb_setup() {
	local r
	QB_DIR=$(mktemp -d "${TMPDIR:-/tmp}/qb-install.XXXXXX")
	chmod 0755 "$QB_DIR"
	QB_PREFIX=$QB_DIR/usr
	QB_SHARE=$QB_PREFIX/share/qemubox
	QB_STATE=$QB_DIR/var/lib/qemubox
	QB_LOGS=$QB_DIR/var/log/qemubox
	QB_CNI_CONF=$QB_DIR/etc/cni/net.d
	mkdir -p "$QB_STATE" "$QB_LOGS" "$QB_CNI_CONF" "$QB_DIR/etc/qemubox"
	chmod 0755 "$QB_DIR/var" "$QB_DIR/var/lib" "$QB_DIR/var/log"
	if ! make -s --no-print-directory -C "$QB_TOP" install PREFIX="$QB_PREFIX" \
		SHAREDIR="$QB_SHARE" SYSCONFDIR="$QB_DIR/etc" >"$QB_DIR/install.log" 2>&1; then
		cat "$QB_DIR/install.log" >&2
		return 1
	fi
	r=$(( $$ % 200 ))
	QB_BRIDGE=${QB_BRIDGE:-qbt$r$RANDOM}
	QB_BRIDGE=${QB_BRIDGE:0:15}
	QB_SUBNET=${QB_SUBNET:-10.$(( 200 + r % 50 )).$(( RANDOM % 250 )).0/24}
	cat >"$QB_CNI_CONF/10-qemubox.conflist" <<-JSON
	{
	  "cniVersion": "1.0.0",
	  "name": "qemubox-net",
	  "plugins": [
	    { "type": "bridge", "bridge": "$QB_BRIDGE", "isGateway": true, "ipMasq": true,
	      "ipam": { "type": "host-local", "ranges": [[{ "subnet": "$QB_SUBNET" }]],
	                "routes": [{ "dst": "0.0.0.0/0" }],
	                "dataDir": "$QB_DIR/var/lib/cni/networks" } },
	    { "type": "firewall" }
	  ]
	}
	JSON
	# Sandbox uids and cgroups of this run: a uid range of its own (runs
	# with separate state dirs must not hand out the same uid), and the
	# sandbox cgroups under this shell's memory cgroup (accounted where
	# the test runs), removed again by qb_teardown.
	r=$(( $$ % 4096 ))
	QB_UID_FIRST=$(( 1000000 + r * 256 ))
	QB_UID_RANGE=${QB_UID_RANGE:-$QB_UID_FIRST-$(( QB_UID_FIRST + 255 ))}
	QB_CGROUP_PARENT=${QB_CGROUP_PARENT:-$(awk -F: '$2 == "memory" { p = $3 } END { sub(/\/$/, "", p); print p }' /proc/self/cgroup)/qemubox-$QB_T}
	QB_CGROUP_NEW=$(qb_cgroup_missing "$QB_CGROUP_PARENT")
	qb_write_config
	export QEMUBOX_CONFIG=$QB_DIR/etc/qemubox/config.json
	export CTD_BIN=$QB_PREFIX/bin
}

# (Re)write config.json. Each shim reads it when containerd starts it, so a
# test may change it between containers. QB_STORAGE_JSON, when set, is the
# body of the "storage" object, e.g. '"scratch_size_mb": 512'.
qb_write_config() {
	local storage= runtime=
	[ -n "${QB_STORAGE_JSON:-}" ] &&
		storage=$',\n  "storage": { '"$QB_STORAGE_JSON }"
	# QB_RUNTIME_JSON: more "runtime" members; QB_SECTIONS_JSON: more
	# top-level sections, e.g. '"cpu_hotplug": { "enabled": true }'.
	[ -n "${QB_RUNTIME_JSON:-}" ] && runtime=", $QB_RUNTIME_JSON"
	[ -n "${QB_SECTIONS_JSON:-}" ] && storage="$storage,
  $QB_SECTIONS_JSON"
	cat >"$QB_DIR/etc/qemubox/config.json.tmp" <<-JSON
	{
	  "paths": {
	    "share_dir": "$QB_SHARE",
	    "state_dir": "$QB_STATE",
	    "log_dir": "$QB_LOGS"
	  },
	  "runtime": { "debug": ${QB_DEBUG:-false}$runtime },
	  "security": { "vmmon_uid_range": "$QB_UID_RANGE",
	                "cgroup_parent": "$QB_CGROUP_PARENT" },
	  "network": { "cni_conf_dir": "$QB_CNI_CONF" }$storage
	}
	JSON
	mv "$QB_DIR/etc/qemubox/config.json.tmp" "$QB_DIR/etc/qemubox/config.json"
}

# The directories of cgroup path $1 that do not exist yet, in each cgroup
# hierarchy mounted under /sys/fs/cgroup (deepest first), for qb_teardown.
qb_cgroup_missing() {
	local m p
	for m in /sys/fs/cgroup /sys/fs/cgroup/*; do
		[ -e "$m/cgroup.procs" ] || continue
		p=$1
		while [ -n "$p" ] && [ "$p" != / ]; do
			[ -d "$m$p" ] || echo "$m$p"
			p=${p%/*}
		done
	done
}

qb_run() {
	ctd_ctr run --rm --runtime "$QB_RUNTIME" "$@"
}

qb_suite_start() {
	if ! qb_setup; then
		echo "not ok 1 - scratch install (make install failed)"
		exit 1
	fi
	declare -F tap_skip_all >/dev/null || . "$QB_TOP/tests/lib/tap.sh"
	ctd_start || tap_skip_all 1 1 "$1" "$CTD_SKIP"
	ctd_import_busybox || { echo "not ok 1 - import busybox image"; exit 1; }
	IMG=$CTD_IMAGE
	WORK=$QB_DIR/work
	mkdir -p "$WORK"
}

qb_wait_status() {
	local i
	# ctr is a Go binary (~20 ms of CPU a call): poll at 4 Hz, not 10.
	for i in $(seq 1 $(( ${3:-60} * 4 ))); do
		ctd_ctr task ls 2>/dev/null | awk -v id="$1" -v st="$2" '$1 == id && $3 == st { f = 1 } END { exit !f }' && return 0
		sleep 0.25
	done
	echo "# task $1 not $2 after ${3:-60}s: $(ctd_ctr task ls 2>&1 | tr '\n' ' ')" >&2
	return 1
}

# The entries of the state dir that should not outlive every sandbox: all
# but the layer cache, privnet's database, the uid lock and the template
# holder's directory and uid record (one per line).
qb_state_left() {
	ls "$QB_STATE" 2>/dev/null | grep -Ev '^(layers|cni-config\.db|cni-config\.db-lock|uids|tmpl)$'
	# (A template holder's uid record lives as long as the holder.)
	ls "$QB_STATE/uids" 2>/dev/null | grep -v '^lock$' | while read -r f; do
		grep -qs '"qemubox-tmpl"' "$QB_STATE/uids/$f" || echo "uids/$f"
	done
}

qb_procs_left() {
	local i left
	for i in $(seq 1 50); do
		left=$(qb_prefix_procs)
		[ -z "$left" ] && break
		sleep 0.2
	done
	echo "$left"
}

# " PID:cmdline" of each process running from the scratch prefix, on one
# line. One find reads every /proc/PID/exe: a readlink per process forks
# hundreds of times, which takes tens of seconds on a loaded host.
qb_prefix_procs() {
	local f p left= keep=" "
	declare -F qb_keep_pids >/dev/null && keep=" $(qb_keep_pids | tr '\n' ' ') "
	for f in $(find /proc/[0-9]*/exe -maxdepth 0 -lname "$QB_PREFIX/*" 2>/dev/null); do
		p=${f#/proc/}
		p=${p%/exe}
		[ -e "/proc/$p" ] || continue # ended since
		case $keep in *" $p "*) continue ;; esac
		left="$left $p:$({ tr '\0' ' ' <"/proc/$p/cmdline"; } 2>/dev/null | cut -c1-60)"
	done
	echo "$left"
}

qb_remove() {
	local i
	ctd_ctr task kill -s SIGKILL "$1" >/dev/null 2>&1
	# Up to 30 s for the task to be STOPPED; one that is gone already (a
	# `run --rm` that ended) has nothing to wait for.
	for i in $(seq 1 120); do
		ctd_ctr task ls 2>/dev/null | awk -v id="$1" '$1 == id && $3 != "STOPPED" { f = 1 } END { exit f }' && break
		sleep 0.25
	done
	ctd_ctr task delete "$1" >/dev/null 2>&1
	ctd_ctr containers delete "$1" >/dev/null 2>&1
	ctd_ctr snapshots rm "$1" >/dev/null 2>&1
	return 0
}

# The bridge's gateway address (first host of the subnet).
qb_gateway() {
	local net=${QB_SUBNET%/*}
	echo "${net%.*}.1"
}

qb_teardown() {
	[ -n "$QB_DIR" ] || return 0
	ip link del "$QB_BRIDGE" 2>/dev/null || true
	local d
	for d in ${QB_CGROUP_NEW:-}; do rmdir "$d" 2>/dev/null; done
	rm -rf "$QB_DIR"
	QB_DIR=
}
