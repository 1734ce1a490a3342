#!/usr/bin/env bash
# The containerd-facing contract of containerd-shim-qemubox-v1 against a
# private containerd 1.6 (tests/lib/containerd.sh): -v, `delete`'s raw
# DeleteResponse, `start` sharing one daemon per group, `start` answering
# containerd >= 2.3's BootstrapParams (stdin) with the version 3 bootstrap
# JSON and the daemon serving containerd.task.v3.Task as well as v2, and `ctr run
# --runtime io.containerd.qemubox.v1` reaching our daemon and either
# running the container or failing fast with an error that names what is
# missing, leaving no socket, bundle or process behind.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/containerd.sh

SHIM=$CTD_BIN/containerd-shim-qemubox-v1
CONNECT=$CTD_TOP/${BUILD:-build}/test/ttrpc-connect
# The host's /etc/qemubox/config.json (an installed package) must not change
# what this suite sees.
export QEMUBOX_CONFIG=/nonexistent/qemubox-config.json
n=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
not_ok() { n=$((n + 1)); echo "not ok $n - $*"; }
check() { # name, command...
	local name=$1; shift
	if "$@"; then ok "$name"; else not_ok "$name"; fi
}
echo "1..16"

if ! [ -x "$SHIM" ] || ! [ -x "$CONNECT" ]; then
	tap_skip_all 1 16 "shim contract" "$SHIM or $CONNECT not built (run make)"
fi

# 1: -v names the binary, the version and the git revision.
v=$("$SHIM" -v)
check "-v prints name, version and revision" \
	grep -qE "^containerd-shim-qemubox-v1:.*Version: [0-9]+\.[0-9]+\.[0-9]+.*Revision: [0-9a-f]{7,}" <<<"$(tr "\n" " " <<<"$v")"

# 2: delete with nothing to clean prints a DeleteResponse (137, now), exits 0.
tmp=$(mktemp -d)
on_exit 'rm -rf "$tmp"; ctd_stop'
mkdir -p "$tmp/bundle"
now=$(date +%s)
(cd "$tmp/bundle" && "$SHIM" -namespace default -address /nonexistent.sock \
	-id gone -bundle "$tmp/bundle" delete >"$tmp/del.bin" 2>"$tmp/del.err")
rc=$?
decoded=$(protoc-c --decode_raw <"$tmp/del.bin" 2>&1)
echo "# delete printed: $(tr '\n' ' ' <<<"$decoded")"
first=$(head -1 <<<"$decoded")
secs=$(awk '/^ *1:/ { print $2; exit }' <<<"$decoded")
check "delete: exit 0, DeleteResponse{exit_status 137, exited_at now}" \
	test "$rc" = 0 -a "$first" = "2: 137" -a -n "$secs" \
	-a "${secs:-0}" -ge "$((now - 5))" -a "${secs:-0}" -le "$((now + 5))"

if ! ctd_start; then
	tap_skip_all $((n + 1)) 16 "containerd contract" "$CTD_SKIP"
fi

# 3-5: two bundles of one pod (same sandbox id) get one daemon; SIGTERM
# stops it and it removes its socket.
for c in p1 p2; do
	mkdir -p "$tmp/$c"
	printf '{"annotations":{"io.kubernetes.cri.sandbox-id":"pod-%s"}}' "$$" \
		>"$tmp/$c/config.json"
done
a1=$(cd "$tmp/p1" && "$SHIM" -namespace "$CTD_NS" -address "$CTD_SOCK" -id p1 start 2>&1)
a2=$(cd "$tmp/p2" && "$SHIM" -namespace "$CTD_NS" -address "$CTD_SOCK" -id p2 start 2>&1)
want="unix:///run/containerd/s/$(printf '%s' "$CTD_SOCK/$CTD_NS/pod-$$" | sha256sum | cut -c1-64)"
check "start prints only unix:///run/containerd/s/<sha256(address/ns/group)>" \
	test "$a1" = "$want"
pids=$(ctd_shim_pids)
check "same group: same address, one daemon, address files written" \
	test "$a2" = "$a1" -a "$(wc -w <<<"$pids")" = 1 \
	-a "$(cat "$tmp/p1/address" 2>/dev/null)" = "$a1" \
	-a "$(cat "$tmp/p2/address" 2>/dev/null)" = "$a1"
sock=${a1#unix://}
[ -n "$pids" ] && kill -TERM $pids
for i in $(seq 1 150); do
	[ -z "$(ctd_shim_pids)" ] && break
	sleep 0.1
done
check "SIGTERM: daemon exits and removes its socket" \
	test -z "$(ctd_shim_pids)" -a ! -e "$sock"

# 6-9: containerd >= 2.3 writes BootstrapParams (protobuf, upstream field
# numbers) on start's stdin; containerd_version 2.x asks for version 3.
pb_str() { # FIELD STRING (shorter than 128 bytes): one length-delimited field
	printf "\\x$(printf %02x $(($1 << 3 | 2)))\\x$(printf %02x ${#2})%s" "$2"
}
bootstrap() { # CONTAINERD_VERSION ID
	pb_str 1 "$2"
	pb_str 2 "$CTD_NS"
	pb_str 4 "$1"
	pb_str 5 "unix://$CTD_SOCK.ttrpc"
	pb_str 6 "unix://$CTD_SOCK"
	pb_str 7 /usr/bin/containerd
}
for c in v3 v17; do
	mkdir -p "$tmp/$c"
	printf '{"annotations":{"io.kubernetes.cri.sandbox-id":"pod-%s-%s"}}' "$c" "$$" \
		>"$tmp/$c/config.json"
done
a3=$(bootstrap 2.3.4 v3 | (cd "$tmp/v3" && "$SHIM" -namespace "$CTD_NS" -address "$CTD_SOCK" -id v3 start 2>&1))
u3="unix:///run/containerd/s/$(printf '%s' "$CTD_SOCK/$CTD_NS/pod-v3-$$" | sha256sum | cut -c1-64)"
echo "# start with BootstrapParams 2.3.4 printed: $a3"
check "containerd 2.3 BootstrapParams: start prints {\"version\":3,\"address\":\"unix://...\",\"protocol\":\"ttrpc\"}" \
	test "$a3" = "{\"version\":3,\"address\":\"$u3\",\"protocol\":\"ttrpc\"}"
check "address file holds the plain address (what containerd 1.x reads on restore)" \
	test "$(cat "$tmp/v3/address" 2>/dev/null)" = "$u3"
pid3=$(ctd_shim_pids)
c3=$("$CONNECT" "${u3#unix://}" containerd.task.v3.Task v3 2>&1)
c2=$("$CONNECT" "${u3#unix://}" containerd.task.v2.Task v3 2>&1)
echo "# v3 Connect: $c3; v2 Connect: $c2"
check "the daemon answers containerd.task.v3.Task Connect (shim_pid = its pid), and v2 the same" \
	test -n "$pid3" -a "${c3%% *}" = "shim_pid=$pid3" -a "$c3" = "$c2"
a17=$(bootstrap 1.7.24 v17 | (cd "$tmp/v17" && "$SHIM" -namespace "$CTD_NS" -address "$CTD_SOCK" -id v17 start 2>&1))
u17="unix:///run/containerd/s/$(printf '%s' "$CTD_SOCK/$CTD_NS/pod-v17-$$" | sha256sum | cut -c1-64)"
check "BootstrapParams from a 1.x containerd (which rejects version 3): the plain address" \
	test "$a17" = "$u17"
pids=$(ctd_shim_pids)
[ -n "$pids" ] && kill -TERM $pids
for i in $(seq 1 150); do
	[ -z "$(ctd_shim_pids)" ] && break
	sleep 0.1
done

# 10-16: ctr run through containerd.
ctd_import_busybox >/dev/null 2>&1 || true
id=contract-$$
start_t=$(date +%s%N)
out=$(timeout 120 ctr --address "$CTD_SOCK" --namespace "$CTD_NS" run \
	--runtime io.containerd.qemubox.v1 "$CTD_IMAGE" "$id" echo hello-qemubox 2>&1)
rc=$?
ms=$(( ($(date +%s%N) - start_t) / 1000000 ))
echo "# ctr run rc=$rc in ${ms} ms: $out"
check "ctr run returns (no hang)" test "$rc" != 124
check "containerd's log shows our daemon's log lines for $id" \
	grep -q "proc=shim.*h_create: id=$id" <<<"$(ctd_log)"
if [ "$rc" = 0 ]; then
	check "container ran and printed its output" grep -q hello-qemubox <<<"$out"
else
	# Without the VM backend (or its helpers/config) the error says what
	# is missing: a component, a path or a config key.
	check "failure names what is missing" \
		grep -qE "qemubox: no VM backend|not found at /|config /" <<<"$out"
fi
bundle=$CTD_DIR/state/io.containerd.runtime.v2.task/$CTD_NS/$id
ctd_ctr task rm -f "$id" >/dev/null 2>&1 || true
ctd_ctr c rm "$id" >/dev/null 2>&1
check "ctr c rm succeeds" test "$?" = 0 -o -z "$(ctd_ctr c ls -q | grep -x "$id")"
for i in $(seq 1 150); do
	[ -z "$(ctd_shim_pids)" ] && break
	sleep 0.1
done
check "no shim process left" test -z "$(ctd_shim_pids)"
sock=/run/containerd/s/$(printf '%s' "$CTD_SOCK/$CTD_NS/$id" | sha256sum | cut -c1-64)
check "no socket left ($sock)" test ! -e "$sock"
check "no bundle left" test ! -e "$bundle"
exit 0
