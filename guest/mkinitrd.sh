#!/bin/sh
# Build the guest initrd: a newc cpio holding exactly
#   /init                                vminitd
#   /lib/modules/KVER/kernel/...ko       the modules of guest/modules.list + deps
#   /lib/modules/KVER/qemubox.order      their load order, one "path [group]"
#                                        per line
#   /usr/bin/crun                        and the shared objects ldd names for it
#                                        (and for vminitd when it is not static)
# and nothing else (no shell). Reproducible: sorted entries, owner 0:0, every
# mtime 0, cpio --reproducible (fixed inode/device numbers).
#
#   guest/mkinitrd.sh VMINITD KROOT KVER MODULES_LIST CRUN OUT
set -eu

vminitd=$1 kroot=$2 kver=$3 modlist=$4 crun=$5 out=$6
umask 022
export LC_ALL=C

for f in "$vminitd" "$modlist" "$crun" "$kroot/lib/modules/$kver/modules.dep"; do
	[ -r "$f" ] || { echo "mkinitrd: missing $f" >&2; exit 1; }
done

stage=$(mktemp -d "$out.stage.XXXXXX")
trap 'rm -rf "$stage"' EXIT INT TERM

# Stripped (the symbols stay in the build tree), build-id too: it hashes the
# debug info, which holds the checkout path, and the image must not.
strip -s -R .note.gnu.build-id -o "$stage/init" "$vminitd"
chmod 0755 "$stage/init"

# Load order: for each wanted module, its modules.dep dependencies in reverse
# (depmod lists the closest dependency first), then the module; first
# occurrence wins. A module listed with a group (modules.list's second word)
# is written "path group": vminitd loads it only when the kernel command line
# names that group (qemubox.modules=, set by vmmon from the VM's devices). A
# dependency carries the group only when every listed module needing it has
# that same group; one needed by a module of another group or of none is
# always loaded.
moddir=$kroot/lib/modules/$kver
order=$stage/order
awk -v listfile="$modlist" '
	function norm(s) { gsub(/-/, "_", s); return s }
	function mark(p, g) {
		if (!(p in grp)) grp[p] = g
		else if (grp[p] != g) grp[p] = ""
	}
	BEGIN {
		n = 0
		while ((getline line < listfile) > 0) {
			sub(/#.*/, "", line)
			nf = split(line, f, /[ \t]+/)
			k = 0
			for (i = 1; i <= nf; i++) if (f[i] != "") fl[++k] = f[i]
			if (k == 0) continue
			if (k > 2 || (k == 2 && fl[2] !~ /^[a-z]+$/)) {
				print "mkinitrd: bad line in " listfile ": " line > "/dev/stderr"
				exit 1
			}
			want[++n] = norm(fl[1])
			wgrp[n] = k == 2 ? fl[2] : ""
		}
	}
	{
		path = $1; sub(/:$/, "", path)
		name = path; sub(/.*\//, "", name); sub(/\.ko(\.[a-z]+)?$/, "", name)
		name = norm(name)
		deps[name] = ""
		for (i = NF; i >= 2; i--) deps[name] = deps[name] " " $i
		paths[name] = path
	}
	END {
		for (w = 1; w <= n; w++) {
			if (!(want[w] in paths)) {
				print "mkinitrd: module " want[w] " not in modules.dep" > "/dev/stderr"
				bad = 1
				continue
			}
			k = split(deps[want[w]], d, " ")
			for (i = 1; i <= k; i++) mark(d[i], wgrp[w])
			mark(paths[want[w]], wgrp[w])
		}
		if (bad) exit 1
		for (w = 1; w <= n; w++) {
			k = split(deps[want[w]], d, " ")
			d[k + 1] = paths[want[w]]
			for (i = 1; i <= k + 1; i++) {
				if (d[i] in seen) continue
				seen[d[i]] = 1
				print d[i] (grp[d[i]] != "" ? " " grp[d[i]] : "")
			}
		}
	}' "$moddir/modules.dep" >"$order"

while read -r m _; do
	case "$m" in
	*.ko) ;;
	*) echo "mkinitrd: $m: only uncompressed modules are supported" >&2; exit 1 ;;
	esac
	install -D -m 0644 "$moddir/$m" "$stage/lib/modules/$kver/$m"
done <"$order"
install -m 0644 "$order" "$stage/lib/modules/$kver/qemubox.order"
rm -f "$order"

install -D -m 0755 "$crun" "$stage/usr/bin/crun"

# Shared objects exactly as ldd names them ("name => /path (addr)" or the
# loader "/path (addr)"), copied dereferenced to the path ldd printed.
add_libs() {
	ldd "$1" 2>/dev/null | awk '
		$2 == "=>" && $3 ~ /^\// { print $3; next }
		$1 ~ /^\// { print $1 }' | while read -r lib; do
		[ -e "$stage$lib" ] && continue
		install -D -m 0755 "$lib" "$stage$lib"
	done
}
add_libs "$crun"
# A static vminitd has none ("statically linked").
add_libs "$vminitd"

find "$stage" -mindepth 1 -exec touch -h -d @0 {} +
(cd "$stage" && find . -mindepth 1 -printf '%P\n' | sort |
    cpio -o -H newc --reproducible -R 0:0 --quiet) >"$out.tmp"
mv "$out.tmp" "$out"
