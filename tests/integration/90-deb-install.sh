#!/usr/bin/env bash
# The Debian package on this machine: `make deb` builds it, apt installs it
# (/usr/bin, /usr/libexec/qemubox, /usr/share/qemubox, conffiles in /etc, the
# vmmon user), every binary answers --help, qemubox-check runs, a containerd
# (the system's binary, its own state under a mktemp dir, the package's
# containerd snippet imported) runs a container with the package's shim and
# /etc/qemubox/config.json, and a purge leaves nothing behind: no file, no
# user the package created, no profile.
#
# This changes the host (root): the package is purged on any exit. It cannot
# disturb other suites: they install into scratch prefixes, set
# QEMUBOX_CONFIG, and use their own bridges/subnets; the CNI example this
# suite puts into /etc/cni/net.d (only when that directory has no network)
# is removed again.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/containerd.sh

T0=$(date +%s)
[ "$(id -u)" = 0 ] || tap_skip_all 1 1 "deb install" "needs root"
if dpkg-query -W -f='${Status}' qemubox 2>/dev/null | grep -q 'install ok'; then
	tap_skip_all 1 1 "deb install" "a qemubox package is already installed here (not this suite's)"
fi
for d in /etc/qemubox /var/lib/qemubox /var/log/qemubox /usr/share/qemubox; do
	# A purge removes these: never on a host where something else made them.
	[ -e "$d" ] && tap_skip_all 1 1 "deb install" "$d exists before the install (not this suite's)"
done
WORK=$(mktemp -d "${TMPDIR:-/tmp}/qb-deb.XXXXXX")
chmod 0755 "$WORK"
PKGUSER=qbd$$
CNI_EX=/etc/cni/net.d/10-qemubox.conflist
cni_added=0 bridge_added=0 cni_dir_added=0
APT="apt-get -y -q -o DPkg::Lock::Timeout=300"

purge() {
	if dpkg-query -W -f='${Status}' qemubox 2>/dev/null | grep -qv 'not-installed'; then
		DEBIAN_FRONTEND=noninteractive $APT purge qemubox >"$WORK/purge.log" 2>&1
	fi
}
cleanup() {
	ctd_stop
	purge
	[ "$cni_added" = 0 ] || rm -f "$CNI_EX"
	[ "$cni_dir_added" = 0 ] || rmdir /etc/cni/net.d /etc/cni 2>/dev/null
	[ "$bridge_added" = 0 ] || ip link del qemubox0 2>/dev/null
	getent passwd "$PKGUSER" >/dev/null && userdel "$PKGUSER" 2>/dev/null
	rm -rf "$WORK"
}
on_exit cleanup

t_build() {
	DEB=$(scripts/mkdeb "${BUILD:-build}" 2>"$WORK/mkdeb.err") || {
		cat "$WORK/mkdeb.err"; fail "make deb failed"; return 1; }
	echo "$DEB" >"$WORK/deb"
	dpkg-deb --info "$DEB" >"$WORK/info" || fail "dpkg-deb --info" || return
	grep -q '^ Depends: .*libc6.*qemu-system-x86' "$WORK/info" || fail "Depends: $(grep Depends "$WORK/info")" || return
	# The per-sandbox programs are static PIEs: the package names what is
	# linked into them, so a glibc (or json-c, ...) fix shows it needs a rebuild.
	if file -b "${BUILD:-build}/bin/containerd-shim-qemubox-v1" | grep -q 'static-pie linked'; then
		grep -q "^ Built-Using: .*glibc (= $(dpkg-query -W -f='${source:Version}' libc6-dev))" "$WORK/info" ||
			fail "Built-Using does not name this glibc: $(grep Built-Using "$WORK/info")" || return
	fi
	dpkg-deb --contents "$DEB" | awk '{ print $6 }' >"$WORK/contents"
	for f in ./usr/bin/containerd-shim-qemubox-v1 ./usr/bin/qemubox-cleanup ./usr/bin/qemubox-check \
	    ./usr/libexec/qemubox/qemubox-privnet ./usr/libexec/qemubox/qemubox-vmmon \
	    ./usr/libexec/qemubox/qemubox-spawner ./usr/libexec/qemubox/qemubox-layerbuild \
	    ./usr/libexec/qemubox/qemubox-fsd ./usr/libexec/qemubox/qemubox-tmpl \
	    ./usr/libexec/qemubox/setup-host \
	    ./usr/share/qemubox/kernel/qemubox-kernel-x86_64 ./usr/share/qemubox/kernel/qemubox-initrd \
	    ./etc/qemubox/config.json ./etc/apparmor.d/qemubox-shim ./etc/apparmor.d/qemubox-qemu \
	    ./usr/share/doc/qemubox/copyright ./usr/share/doc/qemubox/examples/config-1.6.toml \
	    ./usr/share/doc/qemubox/examples/config-2.x.toml ./usr/share/doc/qemubox/examples/10-qemubox.conflist \
	    ./usr/share/doc/qemubox/examples/runtimeclass.yaml; do
		grep -qxF "$f" "$WORK/contents" || fail "not in the package: $f" || return
	done
	dpkg-deb --ctrl-tarfile "$DEB" | tar -xOf - ./conffiles >"$WORK/conffiles"
	grep -qx /etc/qemubox/config.json "$WORK/conffiles" || fail "config.json is not a conffile" || return
	# Every profile of the source tree is shipped as a conffile, none else.
	for f in $(profiles); do
		grep -qx "/etc/apparmor.d/$f" "$WORK/conffiles" || fail "profile $f is not a conffile" || return
	done
	[ "$(grep -c '^/etc/apparmor.d/qemubox-' "$WORK/conffiles")" = "$(profiles | wc -w)" ] ||
		fail "conffiles name profiles the tree does not have: $(grep apparmor "$WORK/conffiles")" || return
	echo "# $(basename "$DEB"): $(du -k "$DEB" | cut -f1) KiB"
}

# The AppArmor profiles of the source tree (apparmor/qemubox-*; the suite
# runs from the top of the tree), one per line.
profiles() {
	(cd apparmor && ls qemubox-*)
}

t_install() {
	local g
	DEBIAN_FRONTEND=noninteractive QEMUBOX_VMMON_USER=$PKGUSER \
		$APT install "$(cat "$WORK/deb")" >"$WORK/install.log" 2>&1 ||
		{ tail -20 "$WORK/install.log"; fail "apt-get install failed"; return 1; }
	dpkg -L qemubox >"$WORK/files"
	[ -x /usr/bin/containerd-shim-qemubox-v1 ] && [ -x /usr/libexec/qemubox/qemubox-vmmon ] ||
		fail "binaries not in place" || return
	getent passwd "$PKGUSER" >/dev/null || fail "postinst did not create user $PKGUSER" || return
	g=$(id -nG "$PKGUSER")
	case " $g " in *" kvm "*) ;; *) fail "$PKGUSER not in kvm: $g" || return ;; esac
	[ "$(cat /var/lib/qemubox/.package-user 2>/dev/null)" = "$PKGUSER" ] ||
		fail "the created user is not recorded for purge" || return
	QEMUBOX_CONFIG=/etc/qemubox/config.json /usr/bin/containerd-shim-qemubox-v1 --check-config ||
		fail "installed config.json does not check" || return
}

t_help() {
	local b out
	for b in /usr/bin/containerd-shim-qemubox-v1 /usr/bin/qemubox-cleanup /usr/bin/qemubox-check \
	    /usr/libexec/qemubox/qemubox-privnet /usr/libexec/qemubox/qemubox-vmmon; do
		out=$("$b" --help 2>&1) || fail "$b --help: exit $?: $out" || return
		echo "$out" | grep -q "^usage: $(basename "$b")" || fail "$b --help: $out" || return
	done
}

t_check() {
	local out rc
	out=$(/usr/bin/qemubox-check 2>&1); rc=$?
	echo "$out" | sed 's/^/# /'
	echo "$out" | grep -q '^ok    configuration /etc/qemubox/config.json' || fail "config line" || return
	echo "$out" | grep -q '^ok    guest: kernel .* and the initrd.s modules match (/usr/share/qemubox/kernel)' ||
		fail "guest line" || return
	echo "$out" | grep -q '^ok    vmmon user: qemubox' || fail "vmmon user line" || return
	# No KVM here: a warning with the fix, not a failure.
	if [ ! -c /dev/kvm ]; then
		echo "$out" | grep -q '^warn  KVM: no /dev/kvm; QEMU runs under TCG' || fail "TCG line" || return
	fi
	echo "$out" | tail -1 | grep -q '^qemubox-check: [0-9]* failed' || fail "summary" || return
	if echo "$out" | grep -q '^FAIL  CNI'; then
		[ "$rc" = 1 ] || fail "a FAIL but exit $rc" || return
	fi
}

# The network the installed config.json names (network.cni_conf_dir
# /etc/cni/net.d): the package's example, as README's Install says, when the
# host has none; removed on exit.
cni_setup() {
	[ -z "$(find /etc/cni/net.d -maxdepth 1 \( -name '*.conflist' -o -name '*.conf' \) 2>/dev/null)" ] ||
		return 0
	[ -d /etc/cni ] || cni_dir_added=1
	mkdir -p /etc/cni/net.d
	ip link show qemubox0 >/dev/null 2>&1 || bridge_added=1
	cp examples/cni/10-qemubox.conflist "$CNI_EX"
	cni_added=1
}

t_run() {
	local out kver
	CTD_BIN=/usr/bin CTD_IMPORTS=/usr/share/doc/qemubox/examples/config-1.6.toml
	export PATH=/usr/sbin:/usr/bin:/sbin:/bin
	unset QEMUBOX_CONFIG
	on_exit ctd_stop
	ctd_start || fail "containerd: $CTD_SKIP" || return
	containerd --config "$CTD_DIR/config.toml" config dump 2>/dev/null |
		grep -q "^imports = .*$CTD_IMPORTS" || fail "containerd did not import $CTD_IMPORTS" || return
	# With the CRI plugin (off in this containerd), the snippet's runtime.
	printf 'version = 2\nimports = ["%s"]\n' "$CTD_IMPORTS" >"$CTD_DIR/cri.toml"
	containerd --config "$CTD_DIR/cri.toml" config dump 2>/dev/null |
		grep -A40 'containerd.runtimes.qemubox\]' | grep -q 'runtime_type = "io.containerd.qemubox.v1"' ||
		fail "the snippet gives no runtime io.containerd.qemubox.v1" || return
	ctd_import_busybox || fail "busybox import" || return
	out=$(timeout 240 ctr --address "$CTD_SOCK" --namespace "$CTD_NS" run --rm \
		--runtime io.containerd.qemubox.v1 "$CTD_IMAGE" ${QB_T:-t$$}-deb uname -r 2>&1)
	echo "# ctr run: $out"
	# The kernel is an ELF (guest/mkkernel.sh): its banner names the release.
	kver=$(strings -n 20 /usr/share/qemubox/kernel/qemubox-kernel-x86_64 |
		sed -n 's/^Linux version \([^ ]*\) .*/\1/p' | head -1)
	[ -n "$kver" ] && [ "$out" = "$kver" ] ||
		fail "the container did not print the guest kernel's release ($kver): $out" || return
	ctd_log | grep -q 'proc=shim' || fail "no shim log line in containerd's log" || return
}

t_purge() {
	local left f
	DEBIAN_FRONTEND=noninteractive $APT purge qemubox >"$WORK/purge.log" 2>&1 ||
		{ tail -20 "$WORK/purge.log"; fail "purge failed"; return 1; }
	left=
	while read -r f; do
		case "$f" in /. | /usr | /usr/* | /etc | /etc/apparmor.d | /etc/cni*) [ -d "$f" ] && continue ;; esac
		[ -e "$f" ] && left="$left $f"
	done <"$WORK/files"
	for f in /etc/qemubox /var/lib/qemubox /var/log/qemubox /usr/libexec/qemubox /usr/share/qemubox \
	    /usr/share/doc/qemubox $(profiles | sed 's|^|/etc/apparmor.d/|'); do
		[ -e "$f" ] && left="$left $f"
	done
	[ -z "$left" ] || fail "left after purge:$left" || return
	getent passwd "$PKGUSER" >/dev/null && fail "user $PKGUSER left after purge" && return 1
	getent passwd qemubox >/dev/null || fail "purge removed the pre-existing user qemubox" || return
	if [ -r /sys/kernel/security/apparmor/profiles ]; then
		grep -q '^qemubox-' /sys/kernel/security/apparmor/profiles && fail "profiles still loaded" && return 1
	else
		echo "# AppArmor is not in this kernel: profile loading/unloading not exercised"
	fi
	dpkg-query -W -f='${Status}' qemubox 2>/dev/null | grep -q 'config-files' && fail "conffiles state left" && return 1
	return 0
}

TAP_TIMEOUT=${QB_DEB_TIMEOUT:-900} tap_run "make deb: FHS paths, conffiles, Depends, docs" t_build
tap_run "apt-get install: binaries, config check, the vmmon user (created, in kvm)" t_install
tap_run "--help of every binary" t_help
tap_run "qemubox-check on the installed package" t_check
cni_setup
TAP_TIMEOUT=600 tap_run "system containerd + the package's snippet runs a container in a VM" t_run
tap_run "purge: no file, no created user, no profile left; qemubox user untouched" t_purge
echo "# total $(($(date +%s) - T0)) s"
tap_done
