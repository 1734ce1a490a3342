#!/usr/bin/env bash
# VM cloning at the guest API level (issue 19), with real QEMU (TCG) and the
# real kernel + initrd: a template VM boots to Ready with its RAM in a file
# (memory-backend-file, share=on), QMP saves its device state (migrate with
# x-ignore-shared, so RAM is not streamed); two clones map that RAM file
# private (share=off), restore with -incoming defer + migrate-incoming, get
# SetIdentity (a fresh getrandom seed + the host clock) and run containers.
# Asserts: clones run containers; their /proc/sys/kernel/random/uuid and
# first /dev/urandom bytes differ from each other and from the template's;
# their wall clock is the host's. tests/component/guest_driver does the VM
# side (QB_CLONE_ROLE); vmmon/shim do not clone yet (docs/PERFORMANCE.md).
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/guest_layer.sh

guest_prereqs "guest clone component test"

tmp=$(mktemp -d)
on_exit 'rm -rf "$tmp"'

guest_layer "$tmp" 2>"$tmp/err" || { echo "1..1"; echo "not ok 1 - $(cat "$tmp/err")"; exit 1; }
mkdir "$tmp/tpl"

# drive ROLE NAME [DIR]: one driver run; its TAP goes to $tmp/NAME.out.
drive() {
	QB_CLONE_ROLE=$1 QB_CLONE_DIR=${3:-$tmp/tpl} "$DRIVER" "$KERNEL" "$INITRD" \
		"$tmp/layer.erofs" "$tmp/config.json" "$tmp/$2.console" >"$tmp/$2.out" 2>&1
	local rc=$?
	cat "$tmp/$2.out"
	if [ "$rc" -ne 0 ]; then
		echo "# console (last 20 lines):"
		tail -n 20 "$tmp/$2.console" | sed 's/^/#   /'
	fi
	return "$rc"
}

t_template() {
	drive template template || return 1
	[ -s "$tmp/tpl/state" ] || fail "no state file" || return 1
	# The device state only: RAM stayed in the memory file.
	local sz
	sz=$(stat -c %s "$tmp/tpl/state")
	[ "$sz" -lt $((4 * 1024 * 1024)) ] || fail "state file $sz bytes: RAM was streamed" || return 1
}
# What the template left in its memory file: content and allocated blocks.
mem_sig() { echo "$(md5sum <"$tmp/tpl/mem" | cut -d' ' -f1) $(stat -c %b "$tmp/tpl/mem")"; }
t_clone1() { mem_sig >"$tmp/mem.sig"; drive clone clone1; }
t_clone2() { drive clone clone2; }
# Clones map the template's memory private: nothing they do reaches the
# file (no writes, no holes punched), or later clones would restore onto
# changed RAM.
t_template_intact() {
	local now
	now=$(mem_sig)
	[ "$now" = "$(cat "$tmp/mem.sig")" ] || fail "template memory file changed: $(cat "$tmp/mem.sig") -> $now" || return 1
}

# A truncated state file: QEMU refuses it, says why, exits; the host sees the
# restore fail (what vmmon would turn into a cold boot) and nothing is left.
t_corrupt() {
	mkdir "$tmp/bad"
	ln "$tmp/tpl/mem" "$tmp/bad/mem"
	head -c $(( $(stat -c %s "$tmp/tpl/state") / 2 )) "$tmp/tpl/state" >"$tmp/bad/state"
	if drive clone bad "$tmp/bad"; then fail "a half state file restored"; return 1; fi
	grep -q "^not ok 1 - clone restored" "$tmp/bad.out" || fail "restore not reported as failed" || return 1
	grep -q "load of migration failed\|error while loading state" "$tmp/bad.out" ||
		fail "QEMU gave no reason" || return 1
	! pgrep -f -- "$tmp/bad.console" >/dev/null || fail "a QEMU of the failed clone is left" || return 1
}

rng_of() { sed -n "s/^# rng-id: [a-z]* //p" "$tmp/$1.out" | head -n 1; }

t_distinct() {
	local t c1 c2
	t=$(rng_of template) c1=$(rng_of clone1) c2=$(rng_of clone2)
	echo "template: $t"; echo "clone1:   $c1"; echo "clone2:   $c2"
	for v in "$t" "$c1" "$c2"; do
		[ "$(echo "$v" | wc -w)" -eq 2 ] || fail "missing uuid/bytes: '$v'" || return 1
	done
	local f
	for f in 1 2; do
		local a b c
		a=$(echo "$t" | cut -d' ' -f$f) b=$(echo "$c1" | cut -d' ' -f$f) c=$(echo "$c2" | cut -d' ' -f$f)
		[ "$a" != "$b" ] && [ "$a" != "$c" ] && [ "$b" != "$c" ] ||
			fail "field $f repeats across template/clones" || return 1
	done
}

tap_run "template boots to Ready, device state saved without RAM" t_template
tap_run "clone 1 restored: SetIdentity, clock, containers run" t_clone1
tap_run "clone 2 restored: SetIdentity, clock, containers run" t_clone2
tap_run "uuid and urandom bytes differ between template and both clones" t_distinct
tap_run "the template's memory file is unchanged by its clones (content, blocks)" t_template_intact
tap_run "a truncated state file: restore fails with QEMU's reason, no QEMU left" t_corrupt
grep -h "^# clone\|^# boot-to-ready\|state saved" "$tmp"/*.out 2>/dev/null | sed 's/^#* */# /'
tap_done
