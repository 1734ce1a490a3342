#!/usr/bin/env bash
# The skip rule of tests/lib/tap.sh and tests/run: under CI=true a skip for a
# missing package, tool or unbuilt file fails, a skip naming a host capability
# (tap_host_cap) stays a skip; outside CI both skip; tests/run's closing line
# names the reasons of the skips it counted. cmocka's "not ok N # SKIP" is a
# skip whose reason is the "# skip: WHY" line before it.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
work=$(mktemp -d)
on_exit 'rm -rf "$work"'
top=$PWD

# Three little suites, as tests/run sees them.
cat >"$work/pkg.sh" <<SH
#!/usr/bin/env bash
. "$top/tests/lib/tap.sh"
t() { tap_skip "frobnicate not installed"; }
tap_run "needs a package" t
tap_done
SH
cat >"$work/cap.sh" <<SH
#!/usr/bin/env bash
. "$top/tests/lib/tap.sh"
t() { tap_skip "\$(tap_host_cap kvm "no /dev/kvm")"; }
tap_run "needs KVM" t
tap_done
SH
cat >"$work/raw.sh" <<'SH'
#!/bin/sh
echo "1..2"
echo "ok 1 - printed by hand # SKIP socat missing"
echo "ok 2 - passes"
SH
# What a cmocka binary prints (CMOCKA_MESSAGE_OUTPUT=TAP) when one test
# calls skip_because() (tests/unit/unit_skip.h) and another bare skip().
cat >"$work/cm-cap.sh" <<'SH'
#!/bin/sh
echo "1..2"
echo "ok 1 - test_a"
echo "# skip: host capability landlock: the kernel has no Landlock"
echo "not ok 2 # SKIP test_b"
echo "# ok - tests"
SH
cat >"$work/cm-bare.sh" <<'SH'
#!/bin/sh
echo "1..2"
echo "# skip: host capability landlock: belongs to no test line"
echo "ok 1 - test_a"
echo "not ok 2 # SKIP test_b"
echo "# ok - tests"
SH
chmod +x "$work"/*.sh

runner() { # CI value, suites...: the closing line of tests/run
	local ci=$1; shift
	CI=$ci tests/run --unit "$@" 2>&1 | tail -n 1
}

t_ci_pkg() {
	local l
	l=$(runner true "$work/pkg.sh")
	[ "$l" = "0 passed, 1 failed, 0 skipped" ] || fail "CI=true, package skip: $l"
}
t_ci_raw() {
	local l
	l=$(runner true "$work/raw.sh")
	[ "$l" = "1 passed, 1 failed, 0 skipped" ] || fail "CI=true, hand-printed skip: $l"
}
t_ci_cap() {
	local l
	l=$(runner true "$work/cap.sh")
	[ "$l" = "0 passed, 0 failed, 1 skipped (skipped: host capability kvm: no /dev/kvm)" ] ||
		fail "CI=true, host capability skip: $l"
}
t_noci() {
	local l
	l=$(runner false "$work/pkg.sh" "$work/cap.sh" "$work/raw.sh")
	[ "$l" = "1 passed, 0 failed, 3 skipped (skipped: frobnicate not installed; host capability kvm: no /dev/kvm; socat missing)" ] ||
		fail "outside CI: $l"
}
t_not_a_cap() {
	[ "$(tap_host_cap fridge "cold")" = "tap_host_cap: fridge is not a host capability ($TAP_HOST_CAPS)" ] ||
		fail "tap_host_cap accepted an unknown capability"
	CI=true tap_skip_allowed "host capability fridge: cold" && fail "an unknown capability may skip under CI"
	return 0
}

t_cmocka_cap() {
	local l
	l=$(runner true "$work/cm-cap.sh")
	[ "$l" = "1 passed, 0 failed, 1 skipped (skipped: host capability landlock: the kernel has no Landlock)" ] ||
		fail "CI=true, cmocka skip for a host capability: $l"
}
t_cmocka_bare() {
	local l
	l=$(runner true "$work/cm-bare.sh")
	[ "$l" = "1 passed, 1 failed, 0 skipped" ] || fail "CI=true, cmocka skip without a reason: $l" || return
	l=$(runner false "$work/cm-bare.sh")
	[ "$l" = "1 passed, 0 failed, 1 skipped (skipped: cmocka skip() in test_b without a reason)" ] ||
		fail "outside CI, cmocka skip without a reason: $l"
}

tap_run "CI=true: a skip for a missing package fails" t_ci_pkg
tap_run "CI=true: a hand-printed SKIP line for a missing tool fails in tests/run" t_ci_raw
tap_run "CI=true: a host capability (KVM) skips, the closing line names it" t_ci_cap
tap_run "outside CI: all three skip, the closing line lists each reason" t_noci
tap_run "only the listed host capabilities count as one" t_not_a_cap
tap_run "cmocka's skip line (not ok N, SKIP directive) with a host-capability reason: a skip, also under CI=true" t_cmocka_cap
tap_run "cmocka's skip line (not ok N, SKIP directive) without a reason: a skip outside CI, a failure under CI=true" t_cmocka_bare
tap_done
