#!/bin/sh
# Fetch Debian's cloud kernel and unpack it for the guest image.
#
#   guest/mkkernel.sh OUTDIR
#
# Resolves the versioned package behind the linux-image-cloud-amd64 meta
# package, downloads it once into OUTDIR/dl (kept, so rebuilds are offline and
# reproducible; delete OUTDIR/dl to move to a newer kernel), unpacks it into
# OUTDIR/kroot, runs depmod there and writes:
#   OUTDIR/qemubox-kernel-x86_64   the kernel as an uncompressed ELF with its
#                                  PVH entry note (vmlinux, taken out of the
#                                  vmlinuz; see below)
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

# The vmlinuz (bzImage) holds the kernel ELF compressed. QEMU reads a bzImage
# into its heap for fw_cfg: 13.5 MiB per VM for the VM's life. An ELF kernel
# with a PVH note (XEN_ELFNOTE_PHYS32_ENTRY, CONFIG_PVH) it maps from the file
# instead and copies the segments straight into guest RAM: those pages are
# page cache, one copy for every VM on the host, and the guest skips its
# decompressor. The payload's offset and length are in the bzImage header
# (boot protocol 2.08+: payload_offset 0x248, payload_length 0x24c, from the
# protected-mode code at (setup_sects + 1) * 512).
vmlinuz=$kroot/boot/vmlinuz-$kver
u8() { od -An -tu1 -j "$1" -N1 "$vmlinuz" | tr -d ' '; }
u32() { od -An -tu4 -j "$1" -N4 "$vmlinuz" | tr -d ' '; }
[ "$(od -An -c -j 514 -N4 "$vmlinuz" | tr -d ' ')" = HdrS ] || {
	echo "mkkernel: $vmlinuz is not a bzImage" >&2
	exit 1
}
sects=$(u8 497)
[ "$sects" = 0 ] && sects=4
poff=$(( (sects + 1) * 512 + $(u32 584) ))
plen=$(u32 588)
magic=$(od -An -tx1 -j "$poff" -N6 "$vmlinuz" | tr -d ' ')
case "$magic" in
02214c18*) dec="lz4 -dc" ;;
1f8b*) dec="gzip -dc" ;;
fd377a585a00) dec="xz -dc" ;;
28b52ffd*) dec="zstd -dc" ;;
*) echo "mkkernel: unknown compression of the kernel payload ($magic)" >&2; exit 1 ;;
esac
# The payload ends with the 4-byte uncompressed size (the kernel's
# size_append), which the decompressors would call trailing garbage.
tail -c +"$((poff + 1))" "$vmlinuz" | head -c "$((plen - 4))" | $dec >"$out/qemubox-kernel-x86_64.tmp"
# An ELF, and QEMU boots it only with the PVH entry note (type 0x12).
if [ "$(od -An -c -N4 "$out/qemubox-kernel-x86_64.tmp" | tr -d ' ')" != 177ELF ] ||
    ! readelf -n "$out/qemubox-kernel-x86_64.tmp" | grep -q 'Xen.*(0x00000012)'; then
	echo "mkkernel: the kernel in $vmlinuz has no PVH entry note (CONFIG_PVH)" >&2
	exit 1
fi
printf '%s\n' "$kver" >"$out/kernel.version.tmp"
mv "$out/kernel.version.tmp" "$out/kernel.version"
mv "$out/qemubox-kernel-x86_64.tmp" "$out/qemubox-kernel-x86_64"
