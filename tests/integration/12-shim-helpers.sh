#!/usr/bin/env bash
# The daemon forks qemubox-privnet and qemubox-vmmon (from ../libexec next
# to the shim binary: build/libexec) before serving; a missing helper does
# not stop it from serving, Create then names the missing path; helpers
# never outlive the shim. Uses build/test/containerd-shim-qbfakeh-v1 (the
# fake backend that needs helpers) against a private containerd.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/containerd.sh

B=$CTD_TOP/${BUILD:-build}
FAKE=$B/test/containerd-shim-qbfakeh-v1
n=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
not_ok() { n=$((n + 1)); echo "not ok $n - $*"; }
check() {
	local name=$1; shift
	if "$@"; then ok "$name"; else not_ok "$name"; fi
}
T=4
echo "1..$T"
skip_all() { tap_skip_all 1 "$T" "shim helpers" "$1"; }
[ -x "$FAKE" ] || skip_all "$FAKE not built (make all)"
[ -x "$B/libexec/qemubox-privnet" ] || [ -x "$B/libexec/qemubox-vmmon" ] ||
	skip_all "no helper built in $B/libexec"

cfgdir=$(mktemp -d)
mkdir -p "$cfgdir/share" "$cfgdir/state" "$cfgdir/log"
printf '{"paths":{"share_dir":"%s","state_dir":"%s","log_dir":"%s"}}\n' \
	"$cfgdir/share" "$cfgdir/state" "$cfgdir/log" >"$cfgdir/config.json"
export QEMUBOX_CONFIG=$cfgdir/config.json
on_exit 'ctd_stop; rm -rf "$cfgdir"'
ctd_start || skip_all "$CTD_SKIP"
ctd_import_busybox >/dev/null 2>&1 || skip_all "cannot import the busybox image"

out=$(timeout 60 ctr --address "$CTD_SOCK" --namespace "$CTD_NS" run \
	--runtime "$FAKE" "$CTD_IMAGE" h1 exit 0 2>&1)
rc=$?
echo "# ctr run rc=$rc: $out"
missing=
for h in qemubox-privnet qemubox-vmmon; do
	[ -x "$B/libexec/$h" ] || missing="$missing $h"
done
if [ -n "$missing" ]; then
	h=${missing# }; h=${h%% *}
	check "Create fails naming the missing helper ($B/libexec/$h)" \
		grep -qF "$(realpath "$B/libexec")/$h" <<<"$out"
else
	check "with both helpers the container runs" test "$rc" = 0
fi
pids=$(ctd_log | sed -n 's/.*helper_spawn: qemubox-[a-z]* started, pid \([0-9]*\).*/\1/p')
check "the daemon forked the helpers that exist" test -n "$pids"
ctd_ctr task rm -f h1 >/dev/null 2>&1
ctd_ctr c rm h1 >/dev/null 2>&1
for i in $(seq 1 150); do
	[ -z "$(ctd_shim_pids)" ] && break
	sleep 0.1
done
check "the shim exited" test -z "$(ctd_shim_pids)"
alive=
for i in $(seq 1 30); do
	alive=
	for p in $pids; do
		# comm survives in a zombie: an unreaped helper counts too.
		case "$(cat "/proc/$p/comm" 2>/dev/null)" in
		qemubox-*) alive="$alive $p" ;;
		esac
	done
	[ -z "$alive" ] && break
	sleep 0.1
done
check "no helper (not even a zombie) outlives the shim" test -z "$alive"
exit 0
