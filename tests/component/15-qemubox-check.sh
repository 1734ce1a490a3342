#!/usr/bin/env bash
# qemubox-check against configurations in a temp dir: a ready host passes
# (warnings only for what this machine lacks: KVM, vhost-vsock, AppArmor), and
# each broken prerequisite FAILs with its own line and a fix: kernel and
# initrd from different builds, a CNI plugin that is not installed, a vmmon
# user that does not exist, a uid range used by a user or a subuid range.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh

B=${BUILD:-build}
CHECK=$PWD/$B/bin/qemubox-check
for f in "$CHECK" "$B/bin/containerd-shim-qemubox-v1" "$B/guest/qemubox-kernel-x86_64" "$B/guest/qemubox-initrd"; do
	[ -e "$f" ] || tap_skip_all 1 1 "qemubox-check" "$f not built (make)"
done
for t in jq file cpio; do
	command -v "$t" >/dev/null || tap_skip_all 1 1 "qemubox-check" "$t not installed"
done
W=$(mktemp -d)
on_exit 'rm -rf "$W"'
mkdir -p "$W/share/kernel" "$W/state" "$W/log" "$W/cni"
ln -s "$PWD/$B/guest/qemubox-kernel-x86_64" "$PWD/$B/guest/qemubox-initrd" "$W/share/kernel/"
cp examples/cni/10-qemubox.conflist "$W/cni/"

# conf [EXTRA_SECURITY_JSON [CNI_DIR]]: a config.json in $W
conf() {
	cat >"$W/config.json" <<-JSON
	{
	  "paths": { "share_dir": "$W/share", "state_dir": "$W/state", "log_dir": "$W/log" },
	  "network": { "cni_conf_dir": "${2:-$W/cni}", "cni_bin_dirs": ["/usr/lib/cni"] },
	  "security": { "vmmon_user": "qemubox"${1:+, $1} }
	}
	JSON
}
run() { QEMUBOX_CONFIG=$W/config.json "$CHECK" >"$W/out" 2>&1; echo $? >"$W/rc"; sed 's/^/# /' "$W/out"; }
has() { grep -q -- "$1" "$W/out" || fail "no line matching '$1'"; }
rc() { [ "$(cat "$W/rc")" = "$1" ] || fail "exit $(cat "$W/rc"), want $1"; }

t_ready() {
	conf
	run
	rc 0 || return
	has '^ok    configuration' || return
	has '^ok    guest: kernel .* and the initrd.s modules match' || return
	has '^ok    CNI: .*plugins found: bridge firewall' || return
	has '^ok    vmmon user: qemubox' || return
	has '^ok    uid range 200000-265535' || return
	has '^ok    cgroups' || return
	if [ ! -c /dev/kvm ]; then has '^warn  KVM: no /dev/kvm; QEMU runs under TCG' || return; fi
	has '^qemubox-check: 0 failed' || return
}

t_mismatch() {
	mkdir -p "$W/other/lib/modules/0.0.0-other"
	(cd "$W/other" && find lib | cpio -o -H newc --quiet) >"$W/share/kernel/qemubox-initrd.x"
	mv "$W/share/kernel/qemubox-initrd.x" "$W/share/kernel/qemubox-initrd"
	conf
	run
	ln -sf "$PWD/$B/guest/qemubox-initrd" "$W/share/kernel/qemubox-initrd"
	rc 1 || return
	has '^FAIL  guest: the initrd has no modules for kernel ' || return
	has 'fix: reinstall the qemubox package' || return
}

t_cni() {
	mkdir -p "$W/cni2"
	echo '{"cniVersion":"1.0.0","name":"x","plugins":[{"type":"bridge"},{"type":"qb-no-such-plugin"}]}' >"$W/cni2/10-x.conflist"
	conf "" "$W/cni2"
	run
	rc 1 || return
	has '^FAIL  CNI: .*plugins not found in /usr/lib/cni: qb-no-such-plugin' || return
	mkdir -p "$W/cni3"
	conf "" "$W/cni3"
	run
	rc 1 || return
	has "^FAIL  CNI: no network configuration in $W/cni3" || return
}

t_user() {
	conf '"vmmon_uid_range": ""'
	sed -i 's/"vmmon_user": "qemubox"/"vmmon_user": "qbnosuchuser"/' "$W/config.json"
	run
	rc 1 || return
	has '^FAIL  vmmon user: no user qbnosuchuser' || return
	has '^warn  uid range: security.vmmon_uid_range is ""' || return
}

t_range() {
	conf '"vmmon_uid_range": "300000-300999"'
	cp /etc/passwd "$W/passwd"
	echo "qbclash:x:300500:300500::/nonexistent:/usr/sbin/nologin" >>"$W/passwd"
	echo "alice:300900:65536" >"$W/subuid"
	QEMUBOX_CHECK_PASSWD=$W/passwd QEMUBOX_CHECK_SUBUID=$W/subuid run
	rc 1 || return
	has '^FAIL  uid range 300000-300999 (security.vmmon_uid_range) is in use: qbclash(uid 300500)' || return
	has "$W/subuid:alice:300900:65536" || return
}

t_usage() {
	"$CHECK" --help | grep -q '^usage: qemubox-check' || fail "--help" || return
	"$CHECK" --bogus >/dev/null 2>&1
	[ $? = 2 ] || fail "bad argument: not exit 2"
}

tap_run "a ready host: exit 0, ok lines, TCG only a warning" t_ready
tap_run "kernel and initrd from different builds: FAIL with the fix" t_mismatch
tap_run "CNI: a missing plugin and an empty conf dir FAIL" t_cni
tap_run "vmmon user missing: FAIL; uid range \"\": a warning" t_user
tap_run "uid range used by a user and a subuid range: FAIL naming both" t_range
tap_run "--help, bad argument" t_usage
tap_done
