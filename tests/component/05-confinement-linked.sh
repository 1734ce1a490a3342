#!/usr/bin/env bash
# Every production binary links its confinement explicitly (docs/HACKING.md,
# "Build layout"): the privilege drop, the seccomp allowlist of its role and,
# for the shim, Landlock are defined in the built binary, the shim's main()
# names its backend and its confinement, and no production object carries a
# weak symbol or a constructor (what once let a file slip off the link line
# and the shim serve unconfined). Reads the built objects with nm/readelf;
# run after `make all`.
set -u
cd "$(dirname "$0")/../.."
. tests/lib/tap.sh
B=${BUILD:-build}

# binary, then the symbols it must define (text or data).
defines() {
	local bin=$1 sym syms
	shift
	[ -x "$bin" ] || fail "$bin is not built" || return
	syms=$(nm --defined-only "$bin" | awk '$2 ~ /^[TtDdRrBb]$/ {print $3}') ||
		fail "nm $bin" || return
	for sym in "$@"; do
		grep -qx "$sym" <<<"$syms" || fail "$bin lacks $sym" || return
	done
}

t_shim() {
	defines "$B/bin/containerd-shim-qemubox-v1" shim_priv_drop shim_confine \
		shim_landlock_apply landlock_restrict seccomp_apply_shim \
		qb_seccomp_load_bpf qb_bpf_shim vm_backend_ops
}
t_privnet() {
	defines "$B/libexec/qemubox-privnet" privnet_priv_drop \
		seccomp_apply_privnet qb_seccomp_load_bpf qb_bpf_privnet
}
t_vmmon() {
	defines "$B/libexec/qemubox-vmmon" vmmon_priv_drop \
		seccomp_apply_vmmon qb_seccomp_load_bpf qb_bpf_vmmon
}
t_fakec() {
	defines "$B/test/containerd-shim-qbfakec-v1" shim_confine \
		landlock_restrict seccomp_apply_shim
}

# The production main names both: undefined references in its object.
t_shim_wiring() {
	local o=$B/obj/shim/main.o und sym
	[ -f "$o" ] || fail "$o is not built" || return
	und=$(nm --undefined-only "$o" | awk '{print $2}')
	for sym in shim_main shim_confine vm_backend_ops; do
		grep -qx "$sym" <<<"$und" || fail "shim/main.c does not name $sym" || return
	done
}

# No weak symbol (w/W/v/V) and no .init_array (constructor) in any object
# of production code; generated protobuf code aside.
t_no_weak_no_ctor() {
	local objs weak ctor
	mapfile -t objs < <(find "$B/obj/shim" "$B/obj/lib" "$B/obj/imsg" \
		"$B/obj/privnet" "$B/obj/vmmon" "$B/obj/seccomp" "$B/obj/guest" \
		-name '*.o' 2>/dev/null)
	[ "${#objs[@]}" -gt 20 ] || fail "only ${#objs[@]} production objects under $B/obj" || return
	weak=$(nm -A "${objs[@]}" | grep -E ':[ 0-9a-f]* [wWvV] ')
	[ -z "$weak" ] || fail "weak symbols: $weak" || return
	ctor=$(readelf -SW "${objs[@]}" | grep -E '^File:|\.init_array' |
		grep -B1 '\.init_array')
	[ -z "$ctor" ] || fail "constructors: $ctor"
}

tap_run "containerd-shim-qemubox-v1 links priv drop, Landlock, seccomp, VM backend" t_shim
tap_run "qemubox-privnet links its priv drop and seccomp allowlist" t_privnet
tap_run "qemubox-vmmon links its priv drop and seccomp allowlist" t_vmmon
tap_run "containerd-shim-qbfakec-v1 (13-shim-confined) links Landlock and seccomp" t_fakec
tap_run "shim/main.c names shim_confine and vm_backend_ops" t_shim_wiring
tap_run "no weak symbol, no constructor in production objects" t_no_weak_no_ctor
tap_done
