# shellcheck shell=bash
# A private containerd for integration tests (source this file).
#
#   . tests/lib/containerd.sh
#   ctd_start || tap_skip_all 1 1 x "$CTD_SKIP"    (tests/lib/tap.sh)
#   on_exit ctd_stop                                (tests/lib/onexit.sh)
#   ctd_ctr run --runtime io.containerd.qemubox.v1 ...
#   ctd_import_busybox            # sets CTD_IMAGE
#   ctd_log | grep ...
#
# Everything lives under one per-run `mktemp -d` ($CTD_DIR): root, state,
# the gRPC/ttrpc/debug sockets, config and log; containerd's PATH starts with
# our build/bin so `--runtime io.containerd.qemubox.v1` finds our shim.
# CTD_CRI=1 before ctd_start enables containerd's CRI plugin instead (see
# ctd_cri_config; tests/lib/cri.sh drives it).
# ctd_stop kills containerd and any shim still serving it (found by its
# -address argument, which names $CTD_DIR), unmounts what is left under
# $CTD_DIR and removes it.

. "$(dirname "${BASH_SOURCE[0]}")/onexit.sh"
CTD_TOP=${CTD_TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
CTD_BIN=${CTD_BIN:-$CTD_TOP/${BUILD:-build}/bin}
CTD_DIR=
CTD_SOCK=
CTD_PID=
CTD_SKIP=
CTD_NS=${CTD_NS:-qbtest}
CTD_IMAGE=
# CTD_IMPORTS: a containerd config file to import (a runtime snippet).
CTD_CRI=${CTD_CRI:-}
# CRI mode: CNI configuration directory and the pause (sandbox) image name.
CTD_CNI_CONF_DIR=${CTD_CNI_CONF_DIR:-}
CTD_PAUSE_IMAGE=${CTD_PAUSE_IMAGE:-docker.io/library/qb-pause:qemubox}

# Why a test cannot run here, or nothing; sets CTD_SKIP. None of these is a
# host capability: under CI=true, tap_skip_all turns them into failures.
ctd_can_run() {
	CTD_SKIP=
	if [ "$(id -u)" != 0 ]; then CTD_SKIP="needs root"; return 1; fi
	if ! command -v containerd >/dev/null || ! command -v ctr >/dev/null; then
		CTD_SKIP="containerd/ctr not installed"; return 1
	fi
	if ! [ -x "$CTD_BIN/containerd-shim-qemubox-v1" ]; then
		CTD_SKIP="$CTD_BIN/containerd-shim-qemubox-v1 not built (run make)"; return 1
	fi
	return 0
}

ctd_start() {
	ctd_can_run || return 1
	CTD_DIR=$(mktemp -d "${TMPDIR:-/tmp}/qb-ctd.XXXXXX")
	chmod 0711 "$CTD_DIR"
	CTD_SOCK=$CTD_DIR/containerd.sock
	cat >"$CTD_DIR/config.toml" <<-TOML
	version = 2
	$([ -z "${CTD_IMPORTS:-}" ] || echo "imports = [\"$CTD_IMPORTS\"]")
	root = "$CTD_DIR/root"
	state = "$CTD_DIR/state"
	$(if [ -n "$CTD_CRI" ]; then ctd_cri_config; else
		# CRI wants CNI and a lot of start-up time; ctr does not need it.
		echo 'disabled_plugins = ["io.containerd.grpc.v1.cri"]'
	fi)
	[grpc]
	  address = "$CTD_SOCK"
	[ttrpc]
	  address = "$CTD_SOCK.ttrpc"
	[debug]
	  address = "$CTD_DIR/debug.sock"
	  level = "debug"
	[metrics]
	  address = ""
	TOML
	if ctd_launch; then
		ctr --address "$CTD_SOCK" namespaces create "$CTD_NS" >/dev/null 2>&1 || true
		return 0
	fi
	CTD_SKIP="private containerd did not come up: $(tail -3 "$CTD_DIR/containerd.log" | tr '\n' ' ')"
	ctd_stop
	return 1
}

# containerd 1.6's CRI plugin for tests: no registry (the pause image is
# imported locally, see ctd_cri_import_images), CNI from $CTD_CNI_CONF_DIR,
# runtime handlers runc (to check the harness itself) and qemubox, which gets
# every pod and container annotation in its OCI spec. restrict_oom_score_adj:
# containerd here lacks the headroom to set the oom_score_adj CRI asks for.
ctd_cri_config() {
	cat <<-TOML
	[plugins."io.containerd.grpc.v1.cri"]
	  sandbox_image = "$CTD_PAUSE_IMAGE"
	  restrict_oom_score_adj = true
	  stream_server_address = "127.0.0.1"
	  stream_server_port = "0"
	  [plugins."io.containerd.grpc.v1.cri".containerd]
	    snapshotter = "overlayfs"
	    default_runtime_name = "runc"
	    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
	      runtime_type = "io.containerd.runc.v2"
	    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.qemubox]
	      runtime_type = "io.containerd.qemubox.v1"
	      pod_annotations = ["*"]
	      container_annotations = ["*"]
	  [plugins."io.containerd.grpc.v1.cri".cni]
	    bin_dir = "/usr/lib/cni"
	    conf_dir = "$CTD_CNI_CONF_DIR"
	    max_conf_num = 1
	TOML
}

# CRI mode: import the busybox image (CTD_IMAGE) and the pause image, whose
# command sleeps forever, into CRI's namespace k8s.io.
ctd_cri_import_images() {
	local tar=$CTD_DIR/busybox-oci.tar ptar=$CTD_DIR/pause-oci.tar
	CTD_IMAGE=docker.io/library/busybox:qemubox
	[ -e "$tar" ] || "$CTD_TOP/scripts/mk-oci-image" "$tar" "$CTD_IMAGE" >/dev/null || return 1
	[ -e "$ptar" ] || MK_OCI_CMD='["sleep","2147483647"]' \
		"$CTD_TOP/scripts/mk-oci-image" "$ptar" "$CTD_PAUSE_IMAGE" >/dev/null || return 1
	ctr --address "$CTD_SOCK" --namespace k8s.io images import "$tar" >/dev/null &&
		ctr --address "$CTD_SOCK" --namespace k8s.io images import "$ptar" >/dev/null
}

# Start containerd on the existing $CTD_DIR and wait until it answers.
ctd_launch() {
	local i
	PATH="$CTD_BIN:$PATH" containerd --config "$CTD_DIR/config.toml" \
		>>"$CTD_DIR/containerd.log" 2>&1 &
	CTD_PID=$!
	for i in $(seq 1 100); do
		ctr --address "$CTD_SOCK" version >/dev/null 2>&1 && return 0
		kill -0 "$CTD_PID" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

# Stop containerd only (shims keep running, as on a real restart).
ctd_kill() {
	local i
	[ -n "$CTD_PID" ] || return 0
	kill -TERM "$CTD_PID" 2>/dev/null
	for i in $(seq 1 50); do
		kill -0 "$CTD_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$CTD_PID" 2>/dev/null || true
	wait "$CTD_PID" 2>/dev/null || true
	CTD_PID=
}

# containerd restart: it reconnects to running shims from their bundles.
ctd_restart() {
	ctd_kill
	ctd_launch
}

# ctr against the private containerd, in the test namespace.
ctd_ctr() {
	ctr --address "$CTD_SOCK" --namespace "$CTD_NS" "$@"
}

ctd_log() {
	cat "$CTD_DIR/containerd.log" 2>/dev/null
}

# Pids of shims (ours or any) whose -address names this containerd.
ctd_shim_pids() {
	local f p
	[ -n "$CTD_SOCK" ] || return 0
	# grep skips processes that vanish mid-scan (awk would stop there);
	# then the exact argv pair "-address <our socket>" (ctr uses --address).
	for f in $(grep -a -l -F -e "$CTD_SOCK" /proc/[0-9]*/cmdline 2>/dev/null); do
		p=${f#/proc/}
		p=${p%/cmdline}
		if { tr '\0' '\n' <"$f"; } 2>/dev/null | grep -xF -A1 -e "-address" |
			grep -qxF -e "$CTD_SOCK"; then
			echo "$p"
		fi
	done
}

# The shim socket paths recorded in this containerd's bundles.
ctd_shim_sockets() {
	local f
	for f in "$CTD_DIR"/state/io.containerd.runtime.v2.task/*/*/address; do
		[ -e "$f" ] && sed 's|^unix://||' "$f" && echo
	done
}

# Build the busybox OCI image once per run and import it; sets CTD_IMAGE.
ctd_import_busybox() {
	local tar=$CTD_DIR/busybox-oci.tar
	CTD_IMAGE=${1:-docker.io/library/busybox:qemubox}
	[ -e "$tar" ] || "$CTD_TOP/scripts/mk-oci-image" "$tar" "$CTD_IMAGE" >/dev/null || return 1
	ctd_ctr images import "$tar" >/dev/null
}

ctd_stop() {
	local p
	[ -n "$CTD_DIR" ] || return 0
	ctd_kill
	# Shims outlive containerd by design; these were started for this run.
	for p in $(ctd_shim_pids); do kill -KILL "$p" 2>/dev/null || true; done
	for p in $(ctd_shim_sockets); do
		case "$p" in /run/containerd/s/*) rm -f "$p" ;; esac
	done
	# Overlay rootfs mounts and containerd's own, deepest first.
	awk -v d="$CTD_DIR" 'index($2, d) == 1 { print $2 }' /proc/self/mounts |
		sort -r | while read -r p; do umount -l "$p" 2>/dev/null || true; done
	# QB_KEEP_CTD_LOG=FILE: keep containerd's log there (debugging a suite).
	[ -n "${QB_KEEP_CTD_LOG:-}" ] && cp "$CTD_DIR/containerd.log" "$QB_KEEP_CTD_LOG" 2>/dev/null
	rm -rf "$CTD_DIR"
	CTD_DIR='' CTD_SOCK=''
}
