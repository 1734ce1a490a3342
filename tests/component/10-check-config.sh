#!/usr/bin/env bash
# `containerd-shim-qemubox-v1 --check-config` end to end: the real binary,
# QEMUBOX_CONFIG, exit codes and the exact messages.
set -u
cd "$(dirname "$0")/../.."
. tests/lib/tap.sh
shim=build/bin/containerd-shim-qemubox-v1
n=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
notok() { n=$((n + 1)); echo "not ok $n - $*"; }

if [ ! -x "$shim" ] || ! "$shim" --help 2>&1 | grep -q -- --check-config; then
	echo "1..1"
	tap_skip_all 1 1 check-config "$shim not built or has no --check-config"
fi
echo "1..5"
work=$(mktemp -d)
on_exit 'rm -rf "$work"'

# The example with share_dir pointed at a directory that exists here.
mkdir "$work/share"
jq --arg d "$work/share" '.paths.share_dir = $d' examples/config.json >"$work/config.json"
out=$(QEMUBOX_CONFIG="$work/config.json" "$shim" --check-config 2>&1); rc=$?
if [ "$rc" -eq 0 ] && [ "$out" = "configuration OK" ]; then
	ok "example config (share_dir in a temp dir): configuration OK, exit 0"
else
	notok "example config: rc=$rc out=$out"
fi

# The example as shipped: OK once qemubox is installed, else the exact error.
out=$(QEMUBOX_CONFIG=examples/config.json "$shim" --check-config 2>&1); rc=$?
if [ -d /usr/share/qemubox ]; then
	want="configuration OK"; want_rc=0
else
	want='config examples/config.json: paths.share_dir ("/usr/share/qemubox") must be an existing directory'
	want_rc=1
fi
if [ "$rc" -eq "$want_rc" ] && [ "$out" = "$want" ]; then
	ok "examples/config.json as shipped: exit $rc, '$out'"
else
	notok "examples/config.json: rc=$rc out=$out (want $want_rc, $want)"
fi

# Every invalid golden file fails through the binary with its exact message.
bad=0 count=0
for f in tests/config/invalid/*.json; do
	count=$((count + 1))
	out=$(QEMUBOX_CONFIG="$f" "$shim" --check-config 2>&1); rc=$?
	if [ "$rc" -ne 1 ] || [ "$out" != "$(cat "${f%.json}.expected")" ]; then
		echo "# $f: rc=$rc out=$out"
		bad=$((bad + 1))
	fi
done
if [ "$bad" -eq 0 ]; then ok "$count invalid golden files: exit 1 with the exact message"
else notok "$bad of $count invalid golden files differ"; fi

out=$(QEMUBOX_CONFIG="$work/missing.json" "$shim" --check-config 2>&1); rc=$?
if [ "$rc" -eq 1 ] && [ "$out" = "config $work/missing.json: cannot open: No such file or directory" ]; then
	ok "missing file: exit 1, names the file"
else
	notok "missing file: rc=$rc out=$out"
fi

# `make install` into a scratch prefix: the config it installs checks OK
# with the installed binary (share_dir follows SHAREDIR), and a second
# install keeps an existing config.json.
inst=$work/inst
if make -s --no-print-directory install PREFIX="$inst/usr" SHAREDIR="$inst/usr/share/qemubox" \
	SYSCONFDIR="$inst/etc" >"$work/install.log" 2>&1; then
	out=$(QEMUBOX_CONFIG="$inst/etc/qemubox/config.json" "$inst/usr/bin/containerd-shim-qemubox-v1" --check-config 2>&1); rc=$?
	echo '{"runtime": {"debug": true}}' >"$inst/etc/qemubox/config.json"
	make -s --no-print-directory install PREFIX="$inst/usr" SHAREDIR="$inst/usr/share/qemubox" \
		SYSCONFDIR="$inst/etc" >>"$work/install.log" 2>&1
	kept=$(cat "$inst/etc/qemubox/config.json")
	if [ "$rc" -eq 0 ] && [ "$out" = "configuration OK" ] && [ "$kept" = '{"runtime": {"debug": true}}' ]; then
		ok "make install: installed config.json checks OK; reinstall keeps it"
	else
		notok "make install: rc=$rc out=$out kept=$kept"
	fi
else
	tail -n 20 "$work/install.log" | sed 's/^/# /'
	notok "make install into $inst failed"
fi
