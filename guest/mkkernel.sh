#!/bin/sh
# Fetch Debian's cloud kernel and unpack it for the guest image.
#
#   guest/mkkernel.sh OUTDIR
#
# Resolves the versioned package behind the linux-image-cloud-amd64 meta
# package, downloads it once into OUTDIR/dl (kept, so rebuilds are offline and
# reproducible; delete OUTDIR/dl to move to a newer kernel), unpacks it into
# OUTDIR/kroot, runs depmod there and writes:
#   OUTDIR/qemubox-kernel-x86_64   the vmlinuz
#   OUTDIR/kernel.version          the kernel release (uname -r in the guest)
set -eu

out=${1:?usage: mkkernel.sh OUTDIR}
meta=linux-image-cloud-amd64
mkdir -p "$out/dl"
out=$(cd "$out" && pwd)
dl=$out/dl

deb=$(find "$dl" -maxdepth 1 -name 'linux-image-*-cloud-amd64_*_amd64.deb' | LC_ALL=C sort | tail -n 1)
if [ -z "$deb" ]; then
	resolve() {
		apt-cache depends "$meta" 2>/dev/null |
		    awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9].*-cloud-amd64$/ { print $2; exit }'
	}
	pkg=$(resolve)
	# A fresh machine may have no package lists yet.
	if [ -z "$pkg" ] && [ "$(id -u)" = 0 ]; then
		apt-get update -qq >/dev/null 2>&1 || true
		pkg=$(resolve)
	fi
	if [ -z "$pkg" ]; then
		echo "mkkernel: cannot resolve $meta (apt-get update?)" >&2
		exit 1
	fi
	# apt drops privileges to _apt for downloads; a directory it cannot
	# write only costs a warning, so download into a private one.
	tmp=$(mktemp -d "$dl/.apt.XXXXXX")
	(cd "$tmp" && apt-get download -q "$pkg" >/dev/null 2>"$tmp.err") || {
		cat "$tmp.err" >&2
		rm -rf "$tmp" "$tmp.err"
		exit 1
	}
	mv "$tmp"/*.deb "$dl"/
	rm -rf "$tmp" "$tmp.err"
	deb=$(find "$dl" -maxdepth 1 -name 'linux-image-*-cloud-amd64_*_amd64.deb' | LC_ALL=C sort | tail -n 1)
fi

kroot=$out/kroot
rm -rf "$kroot" "$kroot.tmp"
mkdir -p "$kroot.tmp"
dpkg-deb -x "$deb" "$kroot.tmp"
kver=$(ls "$kroot.tmp/lib/modules")
case "$kver" in
*[!A-Za-z0-9._+-]* | "")
	echo "mkkernel: unexpected module directory in $deb: '$kver'" >&2
	exit 1
	;;
esac
depmod -b "$kroot.tmp" "$kver"
mv "$kroot.tmp" "$kroot"

cp "$kroot/boot/vmlinuz-$kver" "$out/qemubox-kernel-x86_64.tmp"
printf '%s\n' "$kver" >"$out/kernel.version.tmp"
mv "$out/kernel.version.tmp" "$out/kernel.version"
mv "$out/qemubox-kernel-x86_64.tmp" "$out/qemubox-kernel-x86_64"
