#!/usr/bin/env bash
# runtime.transport through the real stack (issue 22). Where the host has no
# /dev/vhost-vsock (this CI machine), "auto" must pick virtio-serial and say
# so in the shim's log, and the vsock tests skip for that host capability.
# Where it has one, "auto" and "vsock" run a container over vsock.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/containerd.sh
. tests/lib/qemubox.sh

cleanup() { ctd_stop; qb_teardown; }
on_exit cleanup

qb_suite_start "vsock suite"

have_vsock() { [ -e /dev/vhost-vsock ]; }

# run_echo NAME: a container says hello over whatever transport was picked.
run_echo() {
	local out
	out=$(qb_run "$IMG" "${QB_T}-$1" echo "hello over $1") ||
		fail "ctr run failed: $out" || return
	[ "$out" = "hello over $1" ] || fail "output: '$out'"
}

t_auto_without_vsock() {
	have_vsock && tap_skip "$(tap_host_cap vhost-vsock "this host has /dev/vhost-vsock, so auto picks vsock (next test)")"
	QB_RUNTIME_JSON='"transport": "auto"' qb_write_config
	run_echo auto || return
	grep -q "guest channel virtio-serial (auto: no /dev/vhost-vsock)" <<<"$(ctd_log)" ||
		fail "the shim did not log its choice"
}

t_auto_with_vsock() {
	have_vsock || tap_skip "$(tap_host_cap vhost-vsock "no /dev/vhost-vsock on this host")"
	QB_RUNTIME_JSON='"transport": "auto"' qb_write_config
	run_echo auto-vsock || return
	grep -q "guest channel vsock (auto: /dev/vhost-vsock exists)" <<<"$(ctd_log)" ||
		fail "the shim did not log its choice"
}

t_vsock() {
	have_vsock || tap_skip "$(tap_host_cap vhost-vsock "no /dev/vhost-vsock on this host")"
	QB_RUNTIME_JSON='"transport": "vsock"' qb_write_config
	run_echo vsock || return
	grep -q "guest channel vsock (runtime.transport is vsock)" <<<"$(ctd_log)" ||
		fail "the shim did not log its choice"
}

tap_run "auto without /dev/vhost-vsock: virtio-serial, logged" t_auto_without_vsock
tap_run "auto with /dev/vhost-vsock: vsock, logged" t_auto_with_vsock
tap_run "transport vsock: a container runs over vsock" t_vsock
QB_RUNTIME_JSON='' qb_write_config
tap_done
