# shellcheck shell=bash
# Driving containerd's CRI plugin in tests (source after tests/lib/containerd.sh
# and tests/lib/qemubox.sh).
#
#   cri_suite_start NAME    qb_setup + a private containerd with the CRI plugin
#                           (CNI from the scratch install's conf dir), images
#                           imported into k8s.io; prints the TAP line and exits
#                           when one fails
#   cri METHOD [JSON]       one CRI call (build/cri/cri.js); the reply's JSON
#                           on stdout, "qb-cri: METHOD: CODE: details" on stderr
#                           and status 2 on a gRPC error
#   cri_pod_config NAME     PodSandboxConfig JSON for pod NAME (hostname NAME,
#                           logs under $CRI_LOGS/NAME, DNS server 192.0.2.53)
#   cri_run_pod NAME        RunPodSandbox with $CRI_HANDLER; prints the pod id
#                           (CRI_POD_LINUX: the config's "linux" object)
#   cri_create POD NAME CMD...   CreateContainer of busybox running CMD, log
#                           file NAME.log in the pod's log directory; prints
#                           the container id (CRI_TTY=true: with a tty)
#   cri_state ID            the container's state name (CONTAINER_RUNNING...)
#   cri_wait_state ID STATE [SECS]
#   cri_exec ID TIMEOUT CMD...   ExecSync; prints the reply JSON
#   cri_cleanup             stop and remove every pod (teardown)
#
# The client's npm dependencies are installed at build time (make builds
# build/cri); a test never runs npm.

CRI_JS=${CRI_JS:-$QB_TOP/${BUILD:-build}/cri/cri.js}
CRI_HANDLER=${CRI_HANDLER:-qemubox}
CRI_LOGS=
CRI_PODS=()

cri() {
	node "$CRI_JS" --socket "$CTD_SOCK" "$@"
}

# The arguments as a JSON array of strings (jq --args would take "-c" as its own).
cri_json_array() {
	local a
	for a in "$@"; do jq -n --arg a "$a" '$a'; done | jq -cs .
}

cri_suite_start() {
	if ! [ -e "$CRI_JS" ] || ! [ -d "$(dirname "$CRI_JS")/node_modules/@grpc/grpc-js" ]; then
		echo "not ok 1 - $1: CRI client not built ($CRI_JS; run make)"
		exit 1
	fi
	if ! qb_setup; then
		echo "not ok 1 - scratch install (make install failed)"
		exit 1
	fi
	CTD_CRI=1 CTD_CNI_CONF_DIR=$QB_CNI_CONF
	if ! ctd_start; then
		echo "ok 1 - $1 # SKIP $CTD_SKIP"
		exit 0
	fi
	if ! ctd_cri_import_images; then
		echo "not ok 1 - import busybox and pause images into k8s.io"
		exit 1
	fi
	IMG=$CTD_IMAGE
	CRI_LOGS=$QB_DIR/pod-logs
	mkdir -p "$CRI_LOGS"
}

cri_pod_config() {
	local linux=${CRI_POD_LINUX:-'{}'}
	jq -cn --arg name "$1" --arg uid "$QB_T-$1-uid" --arg logs "$CRI_LOGS/$1" --argjson linux "$linux" '{
		metadata: { name: $name, uid: $uid, namespace: "qbtest", attempt: 0 },
		hostname: $name, log_directory: $logs,
		dns_config: { servers: ["192.0.2.53"], searches: ["qb.example"] },
		labels: { "qemubox-test": "yes" }, linux: $linux }'
}

cri_run_pod() {
	local r id
	mkdir -p "$CRI_LOGS/$1"
	r=$(cri RunPodSandbox "$(jq -cn --argjson c "$(cri_pod_config "$1")" \
		--arg h "$CRI_HANDLER" '{config: $c, runtime_handler: $h}')") || return 1
	id=$(jq -r .pod_sandbox_id <<<"$r")
	CRI_PODS+=("$id")
	echo "$id"
}

# cri_create POD NAME CMD...: the pod's config is looked up from its name.
# CRI_TTY=true for a tty; CRI_MOUNTS: a JSON array of CRI Mounts
# ({container_path, host_path, readonly}).
cri_create() {
	local pod=$1 name=$2 podname r
	shift 2
	podname=$(cri PodSandboxStatus "{\"pod_sandbox_id\":\"$pod\"}" | jq -r .status.metadata.name) ||
		return 1
	r=$(cri CreateContainer "$(jq -cn --arg pod "$pod" --arg name "$name" \
		--arg img "${CRI_IMAGE:-$IMG}" --argjson tty "${CRI_TTY:-false}" \
		--argjson sb "$(cri_pod_config "$podname")" --argjson cmd "$(cri_json_array "$@")" \
		--argjson mounts "${CRI_MOUNTS:-[]}" \
		'{pod_sandbox_id: $pod, sandbox_config: $sb, config: {
			metadata: { name: $name, attempt: 0 }, image: { image: $img },
			command: $cmd, log_path: ($name + ".log"), tty: $tty, mounts: $mounts,
			envs: [{ key: "QB_CONTAINER", value: $name }], linux: {} }}')") || return 1
	jq -r .container_id <<<"$r"
}

cri_state() {
	cri ContainerStatus "{\"container_id\":\"$1\"}" | jq -r .status.state
}

cri_wait_state() {
	local i s
	for i in $(seq 1 $(( ${3:-60} * 5 ))); do
		s=$(cri_state "$1")
		[ "$s" = "$2" ] && return 0
		sleep 0.2
	done
	echo "# container $1 is $s, not $2 after ${3:-60}s" >&2
	return 1
}

cri_exec() {
	local id=$1 timeout=$2
	shift 2
	cri ExecSync "$(jq -cn --arg id "$id" --argjson t "$timeout" --argjson cmd "$(cri_json_array "$@")" \
		'{container_id: $id, cmd: $cmd, timeout: $t}')"
}

cri_cleanup() {
	local id
	[ -n "$CTD_SOCK" ] || return 0
	for id in $(cri ListPodSandbox '{}' 2>/dev/null | jq -r '.items[].id'); do
		cri StopPodSandbox "{\"pod_sandbox_id\":\"$id\"}" >/dev/null 2>&1
		cri RemovePodSandbox "{\"pod_sandbox_id\":\"$id\"}" >/dev/null 2>&1
	done
}
