#!/usr/bin/env bash
# AppArmor profiles: each rendered profile parses with apparmor_parser -Q -K
# (no kernel AppArmor is needed to parse), attaches to the installed path of
# its binary, and keeps the rules docs/SECURITY.md promises.
set -u
cd "$(dirname "$0")/../.."
. tests/lib/tap.sh
build=${BUILD:-build}
n=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
nok() { n=$((n + 1)); echo "not ok $n - $*"; }

if ! command -v apparmor_parser >/dev/null; then
	tap_skip_all 1 1 "apparmor profiles" "apparmor_parser not installed"
fi
make -s --no-print-directory $(for p in qemubox-shim qemubox-privnet qemubox-vmmon qemubox-qemu qemubox-spawner qemubox-layerbuild qemubox-tmpl; do echo "$build/apparmor/$p"; done) || exit 1

for p in qemubox-shim qemubox-privnet qemubox-vmmon qemubox-qemu qemubox-spawner qemubox-layerbuild qemubox-tmpl; do
	f=$build/apparmor/$p
	if out=$(apparmor_parser -Q -K "$f" 2>&1 | grep -v 'Cache read/write disabled'); [ -z "$out" ]; then
		ok "$p parses"
	else
		echo "$out" | sed 's/^/# /'
		nok "$p parses"
	fi
	if grep -q '@QB_' "$f"; then nok "$p has no unrendered placeholders"; else ok "$p has no unrendered placeholders"; fi
done

# The parser must reject a broken profile, or the checks above prove nothing.
tmp=$(mktemp)
on_exit 'rm -f "$tmp"'
sed 's/capability net_admin,/capability net_admin_typo,/' "$build/apparmor/qemubox-privnet" >"$tmp"
if apparmor_parser -Q -K "$tmp" >/dev/null 2>&1; then nok "parser rejects a broken profile"; else ok "parser rejects a broken profile"; fi

# Promises from docs/SECURITY.md.
grep -q 'deny capability,' "$build/apparmor/qemubox-qemu" && ok "QEMU profile denies every capability" || nok "QEMU profile denies every capability"
grep -q 'deny /etc/\*\* rw,' "$build/apparmor/qemubox-qemu" && ok "QEMU profile denies host /etc" || nok "QEMU profile denies host /etc"
grep -q 'Px -> qemubox-qemu' "$build/apparmor/qemubox-vmmon" && ok "vmmon execs QEMU into its own profile" || nok "vmmon execs QEMU into its own profile"
if grep -Eq '^\s*capability net_admin' "$build/apparmor/qemubox-shim"; then nok "shim profile grants no net_admin"; else ok "shim profile grants no net_admin"; fi
grep -q "$(make -s --no-print-directory print-libexecdir 2>/dev/null || echo /usr/local/libexec/qemubox)/qemubox-privnet" "$build/apparmor/qemubox-privnet" && ok "privnet profile attaches to the installed path" || nok "privnet profile attaches to the installed path"
grep -q 'Px -> qemubox-layerbuild' "$build/apparmor/qemubox-spawner" && ok "spawner execs the layer builder into its own profile" || nok "spawner execs the layer builder into its own profile"
if grep -q 'deny mount,' "$build/apparmor/qemubox-layerbuild" && grep -q 'deny network,' "$build/apparmor/qemubox-layerbuild" &&
	! grep -Eq '^\s*capability (dac_override|setuid|chown)' "$build/apparmor/qemubox-layerbuild"; then
	ok "layer builder profile: no mount, no network, no dac_override/setuid/chown"
else
	nok "layer builder profile: no mount, no network, no dac_override/setuid/chown"
fi
if grep -q 'Px -> qemubox-vmmon' "$build/apparmor/qemubox-tmpl" && grep -q 'deny network inet,' "$build/apparmor/qemubox-tmpl"; then
	ok "template holder profile: no inet network, execs vmmon into its own profile"
else
	nok "template holder profile: no inet network, execs vmmon into its own profile"
fi
echo "1..$n"
