#!/bin/sh
# Build the guest initrd: a newc cpio holding exactly
#   /init                                vminitd
#   /lib/modules/KVER/kernel/...ko       the modules of guest/modules.list + deps
#   /lib/modules/KVER/qemubox.order      their load order, one path per line
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
# occurrence wins.
moddir=$kroot/lib/modules/$kver
order=$stage/order
awk -v listfile="$modlist" '
	function norm(s) { gsub(/-/, "_", s); return s }
	BEGIN {
		n = 0
		while ((getline line < listfile) > 0) {
			sub(/#.*/, "", line); gsub(/[ \t]/, "", line)
			if (line != "") want[++n] = norm(line)
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
			for (i = 1; i <= k; i++) if (!(d[i] in seen)) { seen[d[i]] = 1; print d[i] }
			if (!(paths[want[w]] in seen)) { seen[paths[want[w]]] = 1; print paths[want[w]] }
		}
		exit bad
	}' "$moddir/modules.dep" >"$order"

while read -r m; do
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
