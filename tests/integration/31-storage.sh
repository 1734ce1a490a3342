#!/usr/bin/env bash
# Storage end to end through a private containerd: the writable layer on a
# scratch ext4 disk (storage.scratch_size_mb) and multi-layer image semantics
# (whiteouts, overwrites) from an OCI image built here without a registry.
# Every test must leave nothing behind (checked after each one).
set -u
cd "$(dirname "$0")/../.."
. tests/lib/tap.sh
. tests/lib/containerd.sh
. tests/lib/qemubox.sh

T0=$(date +%s)
cleanup() {
	ctd_stop
	# t_scratch_host_full's tmpfs, if a time-out killed it mid-way.
	[ -n "$QB_DIR" ] && awk -v d="$QB_DIR" 'index($2, d) == 1 { print $2 }' /proc/self/mounts |
		sort -r | while read -r m; do umount -l "$m"; done
	qb_teardown
}
on_exit cleanup

qb_suite_start "storage suite"

# 3 GiB: far beyond the guest's 512 MiB of RAM and the 1 GiB tmpfs default,
# so only the scratch disk can give / this size.
SCRATCH_MB=3072
scratch_on() { QB_STORAGE_JSON="\"scratch_size_mb\": ${1:-$SCRATCH_MB}" qb_write_config; }
scratch_off() { QB_STORAGE_JSON='' qb_write_config; }

# --- helpers -----------------------------------------------------------------

# As in 30-e2e.sh, plus: no scratch disk in the state dir, and no process
# still holding one (a deleted file keeps its blocks while open).
assert_clean() {
	local i p left
	left=$(qb_procs_left)
	[ -z "$left" ] || fail "processes left:$left" || return
	left=$(ls /run/netns 2>/dev/null | grep '^qemubox-' | while read -r n; do
		for id in "$@"; do [ "$n" = "qemubox-$id" ] && echo "$n"; done; done)
	[ -z "$left" ] || fail "netns left: $left" || return
	left=$(ls "$QB_DIR/var/lib/cni/networks/qemubox-net" 2>/dev/null | grep -Ev '^(last_reserved_ip.*|lock)$')
	[ -z "$left" ] || fail "IPAM reservations left: $left" || return
	left=$(qb_state_left)
	[ -z "$left" ] || fail "state left in $QB_STATE: $left" || return
	left=$(scratch_holders)
	[ -z "$left" ] || fail "scratch disk still open: $left"
}

# "pid:fd size" of every open (deleted) scratch disk of this install.
# One find over every fd on the host: a readlink per fd forks thousands of
# times.
scratch_holders() {
	local f
	for f in $(find /proc/[0-9]*/fd -mindepth 1 -maxdepth 1 -lname "$QB_STATE/scratch.*" 2>/dev/null); do
		f=${f#/proc/}
		echo "${f%%/*}:${f##*/} $(stat -L -c %s "/proc/$f" 2>/dev/null)"
	done
}

# --- scratch disk ------------------------------------------------------------

t_scratch_size() {
	local out kb
	scratch_on
	out=$(qb_run "$IMG" ${QB_T}-sc-size df -k /) || fail "ctr run failed: $out" || return
	scratch_off
	# "overlay  <1K-blocks> <used> <available> <use%> /": overlayfs reports
	# its upper's filesystem, the ext4 grown to the disk in the guest.
	kb=$(echo "$out" | awk '$NF == "/" { print $2 }')
	[ -n "$kb" ] || fail "no df line for /: $out" || return
	echo "# / is ${kb} KiB for scratch_size_mb=$SCRATCH_MB"
	[ "$kb" -gt $(( SCRATCH_MB * 1024 * 95 / 100 )) ] && [ "$kb" -le $(( SCRATCH_MB * 1024 )) ] ||
		fail "/ is $kb KiB, want about $SCRATCH_MB MiB: $out" || return
	assert_clean ${QB_T}-sc-size
}

t_scratch_big_write() {
	local out
	scratch_on
	# 700 MiB > the guest's 512 MiB RAM: impossible on a tmpfs upper.
	out=$(qb_run "$IMG" ${QB_T}-sc-big sh -c 'dd if=/dev/zero of=/big bs=1M count=700 2>&1 && sync && echo tail >>/big && stat -c %s /big') ||
		fail "ctr run failed: $out" || { scratch_off; return 1; }
	scratch_off
	echo "$out" | tail -1 | grep -qx 734003205 || fail "wrote: $out" || return
	assert_clean ${QB_T}-sc-big
}

t_scratch_file_lifetime() {
	local h n
	scratch_on
	ctd_ctr run -d --runtime "$QB_RUNTIME" "$IMG" ${QB_T}-sc-life sleep 100000 >/dev/null ||
		fail "run -d failed" || { scratch_off; return 1; }
	scratch_off
	qb_wait_status ${QB_T}-sc-life RUNNING 60 || { qb_remove ${QB_T}-sc-life; return 1; }
	# Attached, of the configured size, and already unlinked: it cannot
	# outlive the VM whatever happens to the shim.
	h=$(scratch_holders)
	echo "# holders: $h"
	n=$(echo "$h" | grep -c " $(( SCRATCH_MB << 20 ))\$")
	ls "$QB_STATE" | grep -q '^scratch\.' && { qb_remove ${QB_T}-sc-life; fail "scratch file visible in $QB_STATE"; return 1; }
	ctd_ctr task exec --exec-id w ${QB_T}-sc-life sh -c 'echo data >/f && sync' || { qb_remove ${QB_T}-sc-life; fail "exec write failed"; return 1; }
	qb_remove ${QB_T}-sc-life
	[ "$n" -ge 1 ] || fail "no open scratch disk of $SCRATCH_MB MiB while running: $h" || return
	assert_clean ${QB_T}-sc-life
}

t_scratch_bad_value() {
	local out
	scratch_on 16
	out=$(qb_run "$IMG" ${QB_T}-sc-bad true 2>&1) && { scratch_off; fail "ran with scratch_size_mb=16: $out"; return 1; }
	scratch_off
	ctd_ctr containers delete ${QB_T}-sc-bad >/dev/null 2>&1
	ctd_ctr snapshots rm ${QB_T}-sc-bad >/dev/null 2>&1
	echo "$out" | grep -q 'storage.scratch_size_mb (16 MiB) must be between' ||
		fail "error does not name storage.scratch_size_mb: $out" || return
	assert_clean ${QB_T}-sc-bad
}

t_scratch_read_only() {
	local out
	scratch_on
	out=$(qb_run --read-only "$IMG" ${QB_T}-sc-ro sh -c 'touch /newfile 2>&1; echo rc=$?')
	scratch_off
	case "$out" in *"Read-only file system"*rc=1*) ;; *) fail "read-only rootfs not honoured: $out" || return ;; esac
	assert_clean ${QB_T}-sc-ro
}

# The host filesystem under the scratch disk fills up (a sparse disk can
# promise more than the host has): the container must get an I/O error and
# end, not hang in a VM that QEMU paused on ENOSPC.
t_scratch_host_full() {
	local out rc p
	mount -t tmpfs -o size=128m,mode=0755 qb-sto-full "$QB_STATE" || tap_skip "cannot mount a tmpfs on the state dir"
	scratch_on
	out=$(timeout 180 ctr --address "$CTD_SOCK" --namespace "$CTD_NS" run --rm --runtime "$QB_RUNTIME" "$IMG" ${QB_T}-sc-full sh -c 'dd if=/dev/zero of=/big bs=1M count=400 conv=fsync 2>&1; echo dd-rc=$?' 2>&1)
	rc=$?
	scratch_off
	if [ "$rc" -eq 124 ]; then
		# A paused VM answers nothing: kill its QEMU so the shim ends
		# the task and tears the network down.
		for p in $(scratch_holders | cut -d: -f1); do
			[ "$(readlink "/proc/$p/exe")" = "$(command -v qemu-system-x86_64)" ] && kill -KILL "$p"
		done
		qb_remove ${QB_T}-sc-full
		ctd_ctr task ls >&2
		umount -l "$QB_STATE"
		fail "container hung with the host full (VM paused on ENOSPC?)"
		return 1
	fi
	echo "# rc=$rc: $out"
	assert_clean ${QB_T}-sc-full
	local clean=$?
	umount "$QB_STATE" || umount -l "$QB_STATE"
	[ "$clean" -eq 0 ] || return 1
	case "$out" in
	*dd-rc=0*) fail "400 MiB written to a disk on a 128 MiB host fs: $out" ;;
	*"Input/output error"* | *"No space"*) return 0 ;;
	*) fail "no I/O error reported: rc=$rc $out" ;;
	esac
}

# --- multi-layer image -------------------------------------------------------

# A 3-layer OCI image on top of the busybox layer: layer 2 adds /data/keep,
# /data/gone, /data/over ("old") and /olddir/a; layer 3 deletes /data/gone
# (whiteout), overwrites /data/over ("new"), adds /data/added, makes
# /olddir opaque with a new /olddir/b, replaces the directory
# /swap/dir2file by a file and the file /swap/file2dir by a directory, and
# deletes the directory /rmdir (whiteout).
MTIME=946684800
detar() { tar -C "$1" --sort=name --format=gnu --numeric-owner --owner=0 --group=0 --mtime=@$MTIME -cf "$2" .; }
sha() { sha256sum "$1" | cut -d' ' -f1; }

mk_layered_image() {
	local out=$1 name=$2 w=$WORK/img lay blobs bb man cfg l diff dig size
	local layers='' diffs=''
	rm -rf "$w"
	mkdir -p "$w/bb" "$w/oci/blobs/sha256"
	blobs=$w/oci/blobs/sha256
	tar -C "$w/bb" -xf "$CTD_DIR/busybox-oci.tar" || return 1
	man=$(jq -r '.manifests[0].digest' "$w/bb/index.json" | cut -d: -f2)
	cfg=$(jq -r '.config.digest' "$w/bb/blobs/sha256/$man" | cut -d: -f2)
	bb=$(jq -r '.layers[0].digest' "$w/bb/blobs/sha256/$man" | cut -d: -f2)
	cp "$w/bb/blobs/sha256/$bb" "$blobs/$bb"
	layers="{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"sha256:$bb\",\"size\":$(stat -c %s "$blobs/$bb")}"
	diffs=$(jq -c '.rootfs.diff_ids[0]' "$w/bb/blobs/sha256/$cfg")

	mkdir -p "$w/l2/data" "$w/l2/olddir" "$w/l3/data" "$w/l3/olddir"
	echo keep >"$w/l2/data/keep"
	echo gone >"$w/l2/data/gone"
	echo old >"$w/l2/data/over"
	echo a >"$w/l2/olddir/a"
	: >"$w/l3/data/.wh.gone"
	echo new >"$w/l3/data/over"
	echo added >"$w/l3/data/added"
	: >"$w/l3/olddir/.wh..wh..opq"
	echo b >"$w/l3/olddir/b"
	# Type changes and a whole directory deleted.
	mkdir -p "$w/l2/swap/dir2file" "$w/l2/rmdir/sub" "$w/l3/swap/file2dir"
	echo x >"$w/l2/swap/dir2file/x"
	echo f >"$w/l2/swap/file2dir"
	echo r >"$w/l2/rmdir/sub/r"
	echo nowfile >"$w/l3/swap/dir2file"
	echo y >"$w/l3/swap/file2dir/y"
	: >"$w/l3/.wh.rmdir"
	find "$w/l2" "$w/l3" -type d -exec chmod 0755 {} +
	find "$w/l2" "$w/l3" -type f -exec chmod 0644 {} +
	for l in l2 l3; do
		detar "$w/$l" "$w/$l.tar" || return 1
		diff=$(sha "$w/$l.tar")
		gzip -n -c "$w/$l.tar" >"$w/$l.tar.gz"
		dig=$(sha "$w/$l.tar.gz")
		size=$(stat -c %s "$w/$l.tar.gz")
		mv "$w/$l.tar.gz" "$blobs/$dig"
		layers="$layers,{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"sha256:$dig\",\"size\":$size}"
		diffs="$diffs,\"sha256:$diff\""
	done
	jq -c ".rootfs.diff_ids = [$diffs]" "$w/bb/blobs/sha256/$cfg" >"$w/config.json"
	cfg=$(sha "$w/config.json")
	mv "$w/config.json" "$blobs/$cfg"
	printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[%s]}' \
		"$cfg" "$(stat -c %s "$blobs/$cfg")" "$layers" >"$w/manifest.json"
	man=$(sha "$w/manifest.json")
	size=$(stat -c %s "$w/manifest.json")
	mv "$w/manifest.json" "$blobs/$man"
	jq -c ".manifests[0].digest = \"sha256:$man\" | .manifests[0].size = $size | .manifests[0].annotations[\"io.containerd.image.name\"] = \"$name\"" \
		"$w/bb/index.json" >"$w/oci/index.json"
	cp "$w/bb/oci-layout" "$w/oci/oci-layout"
	detar "$w/oci" "$out"
}

LAYERED=docker.io/library/qb-layered:test
layered_ready=
import_layered() {
	[ -n "$layered_ready" ] && return 0
	mk_layered_image "$WORK/layered.tar" "$LAYERED" || fail "building the layered image failed" || return
	ctd_ctr images import "$WORK/layered.tar" >/dev/null || fail "import of the layered image failed" || return
	layered_ready=1
}

t_layers_whiteout_overwrite() {
	local out
	import_layered || return
	out=$(qb_run "$LAYERED" ${QB_T}-layers sh -c 'ls /data | tr "\n" " "; echo; cat /data/over; test -e /data/gone && echo gone-present || echo gone-absent; cat /data/keep; cat /swap/dir2file; ls /swap/file2dir; test -e /rmdir && echo rmdir-present || echo rmdir-absent') ||
		fail "ctr run failed: $out" || return
	echo "# $out" | tr '\n' ' '; echo
	[ "$(echo "$out" | sed -n 1p)" = "added keep over " ] || fail "ls /data: $(echo "$out" | sed -n 1p)" || return
	[ "$(echo "$out" | sed -n 2p)" = new ] || fail "/data/over is not the top layer's: $out" || return
	[ "$(echo "$out" | sed -n 3p)" = gone-absent ] || fail "whiteout ignored: $out" || return
	[ "$(echo "$out" | sed -n 4p)" = keep ] || fail "/data/keep: $out" || return
	[ "$(echo "$out" | sed -n 5p)" = nowfile ] || fail "directory replaced by a file: $out" || return
	[ "$(echo "$out" | sed -n 6p)" = y ] || fail "file replaced by a directory: $out" || return
	[ "$(echo "$out" | sed -n 7p)" = rmdir-absent ] || fail "whiteout of a directory ignored: $out" || return
	assert_clean ${QB_T}-layers
}

# The container's own deletes and overwrites of image files on a scratch
# upper (ext4 takes overlayfs's whiteouts), with the layers' as a base.
t_layers_on_scratch() {
	local out
	import_layered || return
	scratch_on
	out=$(qb_run "$LAYERED" ${QB_T}-layers-sc sh -c 'rm /data/keep && echo newer >/data/over && ls /data | tr "\n" " "; echo; cat /data/over') ||
		fail "ctr run failed: $out" || { scratch_off; return 1; }
	scratch_off
	[ "$(echo "$out" | sed -n 1p)" = "added over " ] || fail "ls /data after rm: $out" || return
	[ "$(echo "$out" | sed -n 2p)" = newer ] || fail "overwrite: $out" || return
	# The next container from the image sees the image, not those writes.
	out=$(qb_run "$LAYERED" ${QB_T}-layers-sc2 cat /data/keep /data/over) || fail "second run failed: $out" || return
	[ "$out" = "keep
new" ] || fail "second container saw: $out" || return
	assert_clean ${QB_T}-layers-sc ${QB_T}-layers-sc2
}

t_layers_opaque_dir() {
	local out
	import_layered || return
	out=$(qb_run "$LAYERED" ${QB_T}-opaque sh -c 'ls /olddir | tr "\n" " "') || fail "ctr run failed: $out" || return
	assert_clean ${QB_T}-opaque || return
	# Layer 3 made /olddir opaque (trusted.overlay.opaque, read by the
	# layer builder with CAP_SYS_ADMIN): layer 2's /olddir/a is hidden.
	[ "$out" = "b " ] || fail "opaque /olddir shows: $out (want only b)"
}

# STORAGE_ONLY=t_name runs one test (debugging).
run_test() {
	[ -z "${STORAGE_ONLY:-}" ] || [ "$2" = "$STORAGE_ONLY" ] || return 0
	tap_run "$@"
}

run_test "scratch disk: / is ext4 of scratch_size_mb" t_scratch_size
run_test "scratch disk: 700 MiB file (> guest RAM)" t_scratch_big_write
run_test "scratch disk: attached, unlinked, gone with the container" t_scratch_file_lifetime
run_test "scratch disk: bad scratch_size_mb fails Create, nothing left" t_scratch_bad_value
run_test "scratch disk: read-only rootfs still read-only" t_scratch_read_only
run_test "scratch disk: host fs full -> I/O error, no hang" t_scratch_host_full
run_test "3-layer image: whiteout and overwrite" t_layers_whiteout_overwrite
run_test "3-layer image on scratch: container rm/overwrite, next container clean" t_layers_on_scratch
run_test "3-layer image: opaque directory" t_layers_opaque_dir
echo "# storage wall time: $(( $(date +%s) - T0 ))s"
tap_done
