#!/usr/bin/env bash
# The confined layer builder (qemubox-spawner + qemubox-layerbuild, real
# mkfs.erofs) through the layer cache, as the shim uses it:
#   - confinement read from /proc while a build runs: the spawner (uid 0,
#     five capabilities, NNP, seccomp) and mkfs.erofs (uid 65534,
#     DAC_READ_SEARCH + SYS_ADMIN only, NNP, two seccomp filters);
#   - fidelity: a layer with every kind of entry and metadata (owners,
#     setuid/sticky, ns mtimes, hard links, symlinks, devices, fifo, socket,
#     sparse file, long and odd names, user.* and security.capability
#     xattrs, whiteouts, opaque directories, 0700/0600 of another uid)
#     gives an image whose manifest equals the layer's, and which keeps
#     trusted.overlay.opaque; a 1 GiB layer and a 100k-file layer too;
#   - the same layer outside a snapshot path is built without capabilities
#     and fails with a clear error (no image);
#   - hostile input: the builder cannot open anything outside its layer
#     (Landlock), through a symlink in the layer either; a 4096-deep tree
#     gives a clear error or a correct image;
#   - a build whose asker is killed leaves no builder and no image, and the
#     next build is clean; two concurrent builds of one layer build once.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
# A 1 GiB and a 100k-file build on a shared 2-core machine take minutes.
TAP_TIMEOUT=${TAP_TIMEOUT:-900}

TOOL=build/test/test_layer_cache
SPAWNER=$PWD/build/libexec/qemubox-spawner
BUILDER=$PWD/build/libexec/qemubox-layerbuild
MANIFEST=build/test/qb-manifest
for f in "$TOOL" "$SPAWNER" "$BUILDER" "$MANIFEST"; do
	[ -x "$f" ] || { echo "not ok 1 - $f not built (make all)"; echo "1..1"; exit 1; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/qb-layerbuild.XXXXXX")
bgpids=()
cleanup() {
	for p in "${bgpids[@]}"; do kill -9 "$p" 2>/dev/null; done
	grep -o " ${work}[^ ]*" /proc/mounts | sort -r | while read -r m; do umount "$m"; done
	rm -rf "$work"
}
on_exit cleanup

# A containerd-like snapshotter root (root's, 0700) and a state dir.
snaproot=$work/root/io.containerd.snapshotter.v1.overlayfs
mkdir -p "$snaproot/snapshots"
chmod 0700 "$snaproot"
state=$work/state
snap() { mkdir -p "$snaproot/snapshots/$1/fs"; echo "$snaproot/snapshots/$1/fs"; }

# build DIR: through a spawner, as the shim does; prints built=.. image=..
build() { LAYER_CACHE_SPAWNER=$SPAWNER "$TOOL" get "$state" "$1"; }
# The same in the background; $! is the driver itself (it gets killed).
build_bg() { (exec env LAYER_CACHE_SPAWNER="$SPAWNER" "$TOOL" get "$state" "$1") & }
image_of() { sed -n 's/^built=[01] image=//p'; }

# Mount an image read-only at $work/mnt.N; prints the mount point.
mnt_n=0
mount_img() {
	mnt_n=$((mnt_n + 1))
	mkdir -p "$work/mnt.$mnt_n"
	mount -t erofs -o loop,ro "$1" "$work/mnt.$mnt_n" || return 1
	echo "$work/mnt.$mnt_n"
}

# Manifest of a layer against the one of its image: no difference.
same_tree() { # LAYER MOUNT
	"$MANIFEST" "$1" >"$work/m.layer" || { fail "manifest of $1 failed"; return 1; }
	"$MANIFEST" "$2" >"$work/m.image" || { fail "manifest of $2 failed"; return 1; }
	if ! diff -u "$work/m.layer" "$work/m.image" >"$work/m.diff"; then
		fail "$(grep -c '^[-+]/' "$work/m.diff") differences: $(head -c 1500 "$work/m.diff")"
		return 1
	fi
	echo "# $(wc -l <"$work/m.layer") entries equal"
}

# Every kind of entry a layer directory can hold.
fill_fidelity() {
	local d=$1 long deep
	(
		cd "$d" || exit 1
		echo plain >plain
		echo owned >owned && chown 1234:5678 owned
		mkdir private && echo key >private/key && chmod 0600 private/key &&
			chown -R 1000:1000 private && chmod 0700 private
		echo none >nomode && chmod 0000 nomode
		cp /bin/busybox suid && chmod 4755 suid
		mkdir sgid && chown 0:50 sgid && chmod 2775 sgid
		mkdir sticky && chmod 1777 sticky
		echo ns >mtime && touch -d '2001-02-03 04:05:06.123456789' mtime
		echo l >hard1 && ln hard1 hard2 && mkdir sub && ln hard1 sub/hard3
		ln -s plain sym-rel && ln -s /plain sym-abs && ln -s nowhere sym-dangling
		ln -s ../../../../../../../../etc/hostname sym-outside
		mknod chr c 1 3 && mknod blk b 7 0 && mkfifo fifo
		python3 -c 'import socket; socket.socket(socket.AF_UNIX).bind("sock")'
		truncate -s 20M sparse && printf mid | dd of=sparse bs=1 seek=10485760 conv=notrunc status=none
		: >empty && mkdir emptydir
		long=$(printf 'n%.0s' $(seq 1 254)) && echo long >"$long"
		deep=deep/$(printf 'd%.0s' $(seq 1 200))/$(printf 'e%.0s' $(seq 1 200))/$(printf 'f%.0s' $(seq 1 200))
		mkdir -p "$deep" && echo deep >"$deep/file"
		echo nl >"$(printf 'new\nline')" && echo sp >'with space' && echo u >'ünïcødé'
		echo x >xattr && setfattr -n user.qemubox -v fidelity xattr && setfattr -n user.empty xattr
		cp /bin/busybox filecap && setcap cap_net_raw,cap_net_bind_service+ep filecap
		# overlay snapshotter markers: a whiteout and an opaque directory
		mknod gone c 0 0
		mkdir opaque && echo b >opaque/b && setfattr -n trusted.overlay.opaque -v y opaque
	)
}

# /proc/PID/status field
st() { awk -v k="$2:" '$1 == k { $1 = ""; sub(/^ /, ""); print; exit }' "/proc/$1/status"; }

t_confinement_and_1g() {
	local l img out m pid sp i
	l=$(snap 10)
	# 1 GiB: a file with data at both ends and a hole between (mkfs.erofs
	# 1.5 stores the hole as zeros: a 1 GiB image).
	truncate -s 1G "$l/big" && printf head | dd of="$l/big" conv=notrunc status=none &&
		printf tail | dd of="$l/big" bs=1 seek=1073741820 conv=notrunc status=none
	build_bg "$l" >"$work/out.1g" 2>&1
	bgpids+=($!)
	pid=
	for i in $(seq 1 600); do
		for p in $(pgrep -x mkfs.erofs); do
			[ "$(readlink "/proc/$p/cwd" 2>/dev/null)" = "$l" ] && pid=$p
		done
		[ -n "$pid" ] && break
		sleep 0.1
	done
	[ -n "$pid" ] || { fail "no mkfs.erofs of $l seen: $(cat "$work/out.1g")"; return 1; }
	echo "# mkfs.erofs $pid: Uid $(st "$pid" Uid) CapEff $(st "$pid" CapEff) CapAmb $(st "$pid" CapAmb) Seccomp_filters $(st "$pid" Seccomp_filters)"
	[ "$(st "$pid" Uid)" = "65534 65534 65534 65534" ] || fail "builder uid: $(st "$pid" Uid)" || return
	[ "$(st "$pid" Gid)" = "65534 65534 65534 65534" ] || fail "builder gid: $(st "$pid" Gid)" || return
	for k in CapEff CapPrm CapAmb CapBnd; do
		[ "$(st "$pid" $k)" = 0000000000200004 ] || fail "builder $k: $(st "$pid" $k) (want DAC_READ_SEARCH+SYS_ADMIN)" || return
	done
	[ "$(st "$pid" NoNewPrivs)" = 1 ] || fail "builder NoNewPrivs: $(st "$pid" NoNewPrivs)" || return
	[ "$(st "$pid" Seccomp)" = 2 ] || fail "builder Seccomp: $(st "$pid" Seccomp)" || return
	[ "$(st "$pid" Seccomp_filters)" = 2 ] || fail "builder filters: $(st "$pid" Seccomp_filters) (spawner's + its own)" || return
	[ "$(st "$pid" Groups)" = "" ] || fail "builder groups: $(st "$pid" Groups)" || return
	# The spawner: the handler's parent.
	sp=$(st "$(st "$pid" PPid)" PPid)
	[ "$(readlink "/proc/$sp/exe")" = "$SPAWNER" ] || fail "spawner pid $sp is $(readlink "/proc/$sp/exe")" || return
	echo "# spawner $sp: Uid $(st "$sp" Uid) CapEff $(st "$sp" CapEff) CapBnd $(st "$sp" CapBnd)"
	[ "$(st "$sp" Uid)" = "0 0 0 0" ] || fail "spawner uid: $(st "$sp" Uid)" || return
	[ "$(st "$sp" CapEff)" = 00000000002001c4 ] || fail "spawner CapEff: $(st "$sp" CapEff)" || return
	[ "$(st "$sp" CapBnd)" = 00000000002001c4 ] || fail "spawner CapBnd: $(st "$sp" CapBnd)" || return
	[ "$(st "$sp" CapAmb)" = 0000000000000000 ] || fail "spawner CapAmb: $(st "$sp" CapAmb)" || return
	[ "$(st "$sp" NoNewPrivs)" = 1 ] || fail "spawner NoNewPrivs" || return
	[ "$(st "$sp" Seccomp)" = 2 ] || fail "spawner Seccomp: $(st "$sp" Seccomp)" || return
	wait "${bgpids[-1]}" || fail "1 GiB build failed: $(cat "$work/out.1g")" || return
	img=$(image_of <"$work/out.1g")
	echo "# 1 GiB layer: image $(stat -c %s "$img") bytes"
	m=$(mount_img "$img") || fail "mount failed" || return
	same_tree "$l" "$m"
}

t_fidelity() {
	local l img m
	l=$(snap 11)
	fill_fidelity "$l" || fail "making the layer failed" || return
	out=$(build "$l" 2>&1) || fail "build failed: $out" || return
	img=$(echo "$out" | image_of)
	m=$(mount_img "$img") || fail "mount failed" || return
	same_tree "$l" "$m" || return
	[ "$(getfattr --absolute-names --only-values -n trusted.overlay.opaque "$m/opaque" 2>/dev/null)" = y ] ||
		fail "trusted.overlay.opaque lost" || return
	[ "$(stat -c '%F %t:%T' "$m/gone")" = "character special file 0:0" ] || fail "whiteout: $(stat -c '%F %t:%T' "$m/gone")" || return
	[ "$(getcap "$m/filecap" | awk '{print $2}')" = "cap_net_bind_service,cap_net_raw=ep" ] ||
		fail "file capability: $(getcap "$m/filecap")" || return
	[ "$(cat "$m/private/key")" = key ] || fail "0600 file of uid 1000 unreadable in the image"
}

t_100k_files() {
	local l img m out t0 t1
	l=$(snap 12)
	(cd "$l" && for d in $(seq 0 99); do
		mkdir "d$d" && cd "d$d" && seq 0 999 | sed 's/^/f/' | xargs touch && cd ..
	done) || fail "making 100k files failed" || return
	find "$l" -type f | head -1000 | while read -r f; do echo "$f" >"$f"; done
	t0=$(date +%s.%N)
	out=$(build "$l" 2>&1) || fail "build failed: $out" || return
	t1=$(date +%s.%N)
	echo "# 100k files: built in $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s"
	img=$(echo "$out" | image_of)
	m=$(mount_img "$img") || fail "mount failed" || return
	same_tree "$l" "$m"
}

temps() { ls "$state/layers" 2>/dev/null | grep -c '\.tmp\.'; }

t_outside_snapshot() {
	local l out before
	l=$work/plain-dir/layer
	mkdir -p "$l"
	fill_fidelity "$l" || fail "making the layer failed" || return
	before=$(temps)
	if out=$(build "$l" 2>&1); then
		fail "a non-snapshot dir with a 0700 dir of another uid built: $out"
		return 1
	fi
	echo "# $out"
	echo "$out" | grep -q "Permission denied" || fail "no clear error: $out" || return
	[ "$(temps)" = "$before" ] || fail "temp left: $(ls "$state/layers")"
}

# The builder as the spawner starts it (uid 65534, the two capabilities,
# NNP); -p PROBE opens PROBE after Landlock and seccomp instead of building.
probe() { # LAYER PROBE -> exit status
	: >"$work/probe.out" && chmod 0666 "$work/probe.out"
	setpriv --reuid 65534 --regid 65534 --clear-groups \
		--inh-caps -all,+dac_read_search,+sys_admin --ambient-caps +dac_read_search,+sys_admin \
		--bounding-set -all,+dac_read_search,+sys_admin --no-new-privs \
		"$BUILDER" -p "$2" "$1" 3<>"$work/probe.out"
}

t_landlock() {
	local l rc
	l=$(snap 13)
	fill_fidelity "$l" || fail "making the layer failed" || return
	probe "$l" "$l/private/key" >/dev/null || fail "a 0600 file inside the layer is not readable" || return
	probe "$l" /etc/hostname >/dev/null
	rc=$?
	[ "$rc" = 3 ] || fail "/etc/hostname outside the layer: exit $rc (want 3, EACCES)" || return
	probe "$l" "$l/sym-outside" >/dev/null
	rc=$?
	[ "$rc" = 3 ] || fail "symlink to outside the layer followed: exit $rc" || return
	# A file next to the output file (the output itself is allowed).
	echo other >"$work/other" && chmod 0644 "$work/other"
	probe "$l" "$work/other" >/dev/null
	rc=$?
	[ "$rc" = 3 ] || fail "a file beside the output: exit $rc" || return
	# Started with a capability beyond the two: refused.
	: >"$work/probe.out"
	if "$BUILDER" -p /etc/hostname "$l" 3<>"$work/probe.out" 2>/dev/null; then
		fail "the builder ran with full capabilities"
		return 1
	fi
}

t_deep_tree() {
	local l out rc before
	l=$(snap 14)
	before=$(temps)
	# 4096 levels: 8 KiB of path, twice PATH_MAX (bash's cd is too slow).
	python3 -c 'import os, sys
os.chdir(sys.argv[1])
for _ in range(4096):
    os.mkdir("d"); os.chdir("d")
open("f", "w").write("bottom\n")' "$l" || fail "making the tree failed" || return
	out=$(build "$l" 2>&1)
	rc=$?
	echo "# 4096 deep: exit $rc: $(echo "$out" | head -c 300)"
	if [ "$rc" = 0 ]; then
		local img m
		img=$(echo "$out" | image_of)
		m=$(mount_img "$img") || fail "mount failed" || return
		python3 -c 'import os, sys
os.chdir(sys.argv[1])
for _ in range(4096):
    os.chdir("d")
sys.exit(open("f").read() != "bottom\n")' "$m" || fail "the deep file is not in the image" || return
	else
		echo "$out" | grep -Eq "mkfs.erofs .* failed|killed" || fail "no clear error: $out" || return
		[ "$(temps)" = "$before" ] || fail "temp left"
	fi
}

# mkfs.erofs 1.5 (Debian 12) cannot store a 255-byte name (NAME_MAX; 254
# works): the build must fail with its message, and leave nothing.
t_name_max() {
	local l out before
	l=$(snap 17)
	before=$(temps)
	echo x >"$l/$(printf 'n%.0s' $(seq 1 255))"
	if out=$(build "$l" 2>&1); then
		local m
		m=$(mount_img "$(echo "$out" | image_of)") || fail "mount failed" || return
		same_tree "$l" "$m"
		return
	fi
	echo "# $(echo "$out" | tail -1 | head -c 300)"
	echo "$out" | grep -q "mkfs.erofs .* failed (exit 1): <E> erofs" || fail "no clear error: $out" || return
	[ "$(temps)" = "$before" ] || fail "temp left"
}

t_killed_build() {
	local l pid i left out key
	l=$(snap 15)
	truncate -s 1G "$l/big" && printf x | dd of="$l/big" conv=notrunc status=none
	build_bg "$l" >/dev/null 2>&1
	pid=$!
	for i in $(seq 1 600); do
		left=$(for p in $(pgrep -x mkfs.erofs); do [ "$(readlink "/proc/$p/cwd")" = "$l" ] && echo "$p"; done)
		[ -n "$left" ] && break
		sleep 0.1
	done
	[ -n "$left" ] || fail "the build never started" || return
	kill -9 "$pid"
	wait "$pid" 2>/dev/null
	for i in $(seq 1 100); do
		left=$(for p in $(pgrep -x mkfs.erofs) $(pgrep -f qemubox-layerbuild); do
			[ "$(readlink "/proc/$p/cwd" 2>/dev/null)" = "$l" ] && echo "$p"; done)
		[ -z "$left" ] && break
		sleep 0.1
	done
	[ -z "$left" ] || fail "builder still running after its asker died: $left" || return
	if grep -lx "$l" "$state/layers"/*.src >/dev/null 2>&1; then
		fail "an image of the killed build exists: $(grep -lx "$l" "$state/layers"/*.src)"
		return 1
	fi
	out=$(build "$l" 2>&1) || fail "rebuild failed: $out" || return
	echo "$out" | grep -q '^built=1' || fail "rebuild: $out" || return
	key=$(basename "$(echo "$out" | image_of)" .erofs)
	! ls "$state/layers" | grep -q "^$key\.tmp\." || fail "temp of the killed build left: $(ls "$state/layers")"
}

t_concurrent() {
	local l a b
	l=$(snap 16)
	(cd "$l" && seq 1 20000 | sed 's/^/f/' | xargs touch)
	build_bg "$l" >"$work/c1" 2>&1
	a=$!
	build_bg "$l" >"$work/c2" 2>&1
	b=$!
	wait "$a" || fail "first: $(cat "$work/c1")" || return
	wait "$b" || fail "second: $(cat "$work/c2")" || return
	[ "$(cat "$work/c1" "$work/c2" | grep -c '^built=1')" = 1 ] ||
		fail "built twice or never: $(cat "$work/c1" "$work/c2")" || return
	[ "$(image_of <"$work/c1")" = "$(image_of <"$work/c2")" ] || fail "two images"
}

tap_run "confinement from /proc during a build; a 1 GiB layer reads back exactly" t_confinement_and_1g
tap_run "fidelity: every kind of entry, xattrs, whiteout, opaque dir, 0700 of another uid" t_fidelity
tap_run "100k small files read back exactly" t_100k_files
tap_run "a directory outside any snapshot: no capability, clear error" t_outside_snapshot
tap_run "Landlock: nothing outside the layer opens, not through a symlink either" t_landlock
tap_run "a 4096-deep tree: clear error or a correct image" t_deep_tree
tap_run "a 255-byte name: clear error (mkfs.erofs 1.5 limit) or a correct image" t_name_max
tap_run "asker killed mid-build: builder gone, no image, next build clean" t_killed_build
tap_run "two concurrent builds of one layer: one build" t_concurrent
tap_done
