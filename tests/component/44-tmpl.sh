#!/usr/bin/env bash
# check() evals its condition strings: shellcheck cannot see those uses.
# shellcheck disable=SC2034,SC2016
# qemubox-tmpl, the template holder (issue 19, cloning), with real
# qemubox-vmmon, QEMU (TCG) and the real guest image: it boots a template,
# saves it and serves it. Asserts: the holder is confined (uid != 0, no
# capability, NoNewPrivs, seccomp, a network namespace of its own); a GET
# that matches gets a RAM memfd sealed exactly W|SHRINK|GROW|SEAL and a
# state fd (a QEMU stream from offset 0); mismatches (memory, cmdline,
# another kernel file) get ENOENT; a non-root peer is refused; the shim's
# spawn starts it detached, once; a second holder on the same state dir
# steps aside; killing the holder leaves no vmmon, QEMU or memfd,
# qemubox-cleanup frees its uid and the next spawn replaces it; a template that cannot boot is retried
# with back-off, a bounded number of times, then ENOENT; qemubox-cleanup
# stops a live holder.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/guest_layer.sh
top=$PWD
n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
failed=0
nok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; [ $# -gt 1 ] && echo "# $2"; }
check() { if eval "$2"; then ok "$1"; else nok "$1" "${3:-}"; fi; }
skip_all() { echo "1..1"; tap_skip_all 1 1 "template holder" "$1"; }

[ "$(id -u)" = 0 ] || skip_all "needs root (the holder starts as root)"
guest_prereqs "template holder component test"
command -v setpriv >/dev/null || skip_all "no setpriv (util-linux)"
TMPL=$top/build/libexec/qemubox-tmpl
GET=$top/build/test/tmpl-driver
for b in "$TMPL" "$GET" "$top/build/libexec/qemubox-vmmon"; do
	[ -x "$b" ] || skip_all "$b not built (make)"
done

work=$(mktemp -d)
hpid=""
cleanup() {
	[ -n "$hpid" ] && kill -KILL "$hpid" 2>/dev/null
	rm -rf "$work"
}
on_exit cleanup
mkdir -p "$work/share/kernel" "$work/state" "$work/bad/state" "$work/log"
# Readable by the non-root peer below, but for the holder's own 0700 dir.
chmod 755 "$work" "$work/state"
cp "$KERNEL" "$work/share/kernel/qemubox-kernel-x86_64"
cp "$INITRD" "$work/share/kernel/qemubox-initrd"
cp "$KERNEL" "$work/other-kernel"
K=$work/share/kernel/qemubox-kernel-x86_64 I=$work/share/kernel/qemubox-initrd
cat >"$work/config.json" <<JSON
{ "paths": { "share_dir": "$work/share", "state_dir": "$work/state", "log_dir": "$work/log" },
  "runtime": { "boot_timeout": "180s", "memory_mb": 512, "boot_cpus": 1 } }
JSON
export QEMUBOX_CONFIG=$work/config.json

status_of() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
uid_of() { awk '/^Uid:/ {print $2}' "/proc/$1/status" 2>/dev/null; }
procs_of_uid() { # uid -> pids
	local p
	for p in /proc/[0-9]*; do
		[ "$(awk '/^Uid:/ {print $2}' "$p/status" 2>/dev/null)" = "$1" ] && echo "${p#/proc/}"
	done
}
tmpl_memfds() { find /proc/[0-9]*/fd -lname 'memfd:qemubox-tmpl*' 2>/dev/null | head -n 3; }

holder_pid() { # config -> the pid of the holder serving it
	local p
	for p in /proc/[0-9]*; do
		[ "$(readlink "$p/exe" 2>/dev/null)" = "$TMPL" ] &&
			tr '\0' '\n' <"$p/environ" 2>/dev/null | grep -qx "QEMUBOX_CONFIG=$1" &&
			echo "${p#/proc/}"
	done | head -n 1
}

echo "1..17"

# As the shim daemon does when runtime.clone is on.
sp=$("$GET" --spawn "$top/build/libexec" 2>>"$work/spawn.err")
hpid=""
for _ in $(seq 1 100); do
	hpid=$(holder_pid "$QEMUBOX_CONFIG")
	u=$(uid_of "$hpid")
	[ -n "$u" ] && [ "$u" != 0 ] && break
	sleep 0.1
done
check "the shim's spawn starts the holder detached (own session, not the spawner's child)" \
	'[ "$sp" = "spawn rc=0" ] && [ -n "$hpid" ] &&
	 [ "$(ps -o sid= -p "$hpid" | tr -d " ")" != "$(ps -o sid= -p $$ | tr -d " ")" ] &&
	 [ "$(ps -o ppid= -p "$hpid" | tr -d " ")" != $$ ]' "$sp pid=$hpid"
sleep 0.3
huid=$(uid_of "$hpid")
check "holder: uid != 0, CapEff/CapPrm/CapBnd/CapAmb 0, NoNewPrivs 1, Seccomp 2" \
	'[ -n "$huid" ] && [ "$huid" != 0 ] && [ "$(status_of "$hpid" CapEff)" = 0000000000000000 ] &&
	 [ "$(status_of "$hpid" CapPrm)" = 0000000000000000 ] && [ "$(status_of "$hpid" CapBnd)" = 0000000000000000 ] &&
	 [ "$(status_of "$hpid" CapAmb)" = 0000000000000000 ] && [ "$(status_of "$hpid" NoNewPrivs)" = 1 ] &&
	 [ "$(status_of "$hpid" Seccomp)" = 2 ]' \
	"$(grep -E '^(Uid|Cap|NoNew|Seccomp)' "/proc/$hpid/status" 2>&1 | tr '\n' ' ')"
check "holder: a network namespace of its own (lo and its TAP only)" \
	'[ "$(readlink "/proc/$hpid/ns/net")" != "$(readlink /proc/self/ns/net)" ] &&
	 [ "$(awk -F: "NR > 2 {gsub(/ /, \"\", \$1); print \$1}" "/proc/$hpid/net/dev" | sort | tr "\n" " ")" = "lo qbtmpl0 " ]' \
	"$(cat "/proc/$hpid/net/dev" 2>&1)"
check "socket directory root's, 0700; socket 0600" \
	'[ "$(stat -c "%U %a" "$work/state/tmpl")" = "root 700" ] && [ "$(stat -c "%U %a" "$work/state/tmpl/tmpl.sock")" = "root 600" ]'
"$TMPL" >"$work/second.log" 2>&1
rc=$?
sp=$("$GET" --spawn "$top/build/libexec" 2>>"$work/spawn.err")
check "a second holder on the same state dir steps aside (exit 0); the spawn sees the socket answer" \
	'[ $rc = 0 ] && grep -q "another qemubox-tmpl serves" "$work/second.log" && kill -0 "$hpid" &&
	 [ "$sp" = "spawn rc=1" ]' "rc=$rc $(cat "$work/second.log") $sp"

t0=$(date +%s)
reply=""
while [ $(($(date +%s) - t0)) -lt 300 ]; do
	reply=$("$GET" "$K" "$I" 512 1 2>&1)
	[[ $reply == ok* ]] && break
	kill -0 "$hpid" 2>/dev/null || break
	sleep 1
done
echo "# template ready after $(($(date +%s) - t0)) s (TCG): $reply"
grep -h "template ready\|guest ready" "$work/log/qemubox-tmpl.log" | sed 's/^/# /' | cut -c1-200
check "matching GET: RAM memfd sealed exactly W|SHRINK|GROW|SEAL (0xf), 512 MiB" \
	'[[ $reply == ok*" ram=536870912 "*" seals=0xf "* ]]' "$reply"
check "... and a state fd: a QEMU stream (QEVM) read from offset 0; start request: template mode, TAP, SCSI bus, id blanked" \
	'[[ $reply == *" magic=QEVM mode=1 "*" scsi=1 tap=1 id=-" ]]' "$reply"
check "the template QEMU quit after SAVE; the spare vmmons are gone (only the holder runs as its uid)" \
	'[ "$(procs_of_uid "$huid" | tr "\n" " ")" = "$hpid " ]' "$(procs_of_uid "$huid" | xargs -r ps -o pid,comm -p)"
r1=$("$GET" "$K" "$I" 256 1 2>&1)
r2=$("$GET" "$K" "$I" 512 1 "qemubox.debug=1" 2>&1)
r3=$("$GET" "$work/other-kernel" "$I" 512 1 2>&1)
r4=$("$GET" "$K" "$I" 512 2 2>&1)
check "mismatching GETs (memory, cmdline, another kernel file, vCPUs) get ENOENT, never a template" \
	'[[ $r1 == "error errno=ENOENT"*memory_mb* ]] && [[ $r2 == "error errno=ENOENT"*cmdline* ]] &&
	 [[ $r3 == "error errno=ENOENT"*"another kernel"* ]] && [[ $r4 == "error errno=ENOENT"*boot_cpus* ]]' \
	"$r1 / $r2 / $r3 / $r4"
# A root peer breaking the protocol is dropped unanswered; the holder serves on.
h1=$("$GET" --raw 801 get 2>&1) h2=$("$GET" --raw 801 100 2>&1) h3=$("$GET" --raw 801 get fd 2>&1)
h4=$("$GET" --raw 802 get 2>&1) h5=$("$GET" "$K" "$I" 512 1 2>&1)
check "hostile peers: a zeroed GET is answered ENOENT; wrong size, a stray fd, a type it does not serve: dropped unanswered; then it still serves" \
	'[ "$h1" = "answer 1" ] && [ "$h2" = closed ] && [ "$h3" = closed ] && [ "$h4" = closed ] && [[ $h5 == ok* ]]' \
	"$h1 / $h2 / $h3 / $h4 / $h5"
# Past the directory (CAP_DAC_OVERRIDE kept across the uid change), a
# non-root peer still gets nothing: SO_PEERCRED.
r5=$(setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=+dac_override \
	--ambient-caps=+dac_override "$GET" "$K" "$I" 512 1 2>&1)
r6=$(setpriv --reuid=65534 --regid=65534 --clear-groups "$GET" "$K" "$I" 512 1 2>&1)
check "a non-root peer is refused (EPERM by SO_PEERCRED; without DAC override it cannot reach the socket)" \
	'[[ $r5 == "error errno=EPERM"*"root only"* ]] && [[ $r6 == error* ]] && [[ $r6 != ok* ]]' "$r5 / $r6"

kill -KILL "$hpid"
wait "$hpid" 2>/dev/null
t0=$(date +%s)
while [ -n "$(procs_of_uid "$huid")" ] && [ $(($(date +%s) - t0)) -lt 15 ]; do sleep 0.3; done
left=$(procs_of_uid "$huid")
check "holder SIGKILLed: no process of its uid (vmmon, QEMU) and no template memfd left" \
	'[ -z "$left" ] && [ -z "$(tmpl_memfds)" ]' "left: $left $(tmpl_memfds)"
hpid=""
out=$("$top/build/bin/qemubox-cleanup" qemubox-tmpl 2>&1)
check "qemubox-cleanup frees the dead holder's uid record" \
	'[ ! -e "$work/state/uids/$huid" ]' "$out"
# The next shim start replaces it: a new holder, a new template.
sp=$("$GET" --spawn "$top/build/libexec" 2>>"$work/spawn.err")
t0=$(date +%s)
reply=""
while [ $(($(date +%s) - t0)) -lt 300 ]; do
	reply=$("$GET" "$K" "$I" 512 1 2>&1)
	[[ $reply == ok* ]] && break
	sleep 1
done
hpid=$(holder_pid "$QEMUBOX_CONFIG")
h2uid=$(uid_of "$hpid")
kill "$hpid" 2>/dev/null
t0=$(date +%s)
while [ -n "$(procs_of_uid "$h2uid")" ] && [ $(($(date +%s) - t0)) -lt 15 ]; do sleep 0.3; done
check "a dead holder is replaced by the next spawn (a new template served); SIGTERM leaves no process of its uid" \
	'[ "$sp" = "spawn rc=0" ] && [[ $reply == ok*" seals=0xf "* ]] && [ -n "$h2uid" ] && [ -z "$(procs_of_uid "$h2uid")" ] && [ -z "$(tmpl_memfds)" ]' \
	"$sp / $reply / uid $h2uid left: $(procs_of_uid "$h2uid")"
hpid=""

# A template that cannot boot (QEMU is /bin/false): bounded retries with
# back-off, then ENOENT; nothing spins.
cat >"$work/bad.json" <<JSON
{ "paths": { "share_dir": "$work/share", "state_dir": "$work/bad/state",
             "qemu_path": "/bin/false" } }
JSON
QEMUBOX_CONFIG=$work/bad.json "$TMPL" >"$work/bad.log" 2>&1 &
hpid=$!
t0=$(date +%s)
while ! grep -q "no attempt left" "$work/bad.log" && [ $(($(date +%s) - t0)) -lt 60 ]; do sleep 0.5; done
el=$(($(date +%s) - t0))
fails=$(grep -c "template boot attempt [0-9] of 3 failed" "$work/bad.log")
check "boot failures: 3 attempts, each logged with its reason, 5 s then 10 s apart (${el} s)" \
	'[ "$fails" = 3 ] && grep -q "next attempt in 5000 ms" "$work/bad.log" &&
	 grep -q "next attempt in 10000 ms" "$work/bad.log" && [ "$el" -ge 14 ] &&
	 grep "attempt 1 of 3 failed" "$work/bad.log" | grep -q "QEMU"' "$(grep -i "attempt\|failed" "$work/bad.log" | cut -c1-200)"
cpu0=$(awk '{print $14 + $15}' "/proc/$hpid/stat")
sleep 3
cpu1=$(awk '{print $14 + $15}' "/proc/$hpid/stat")
r7=$(QEMUBOX_CONFIG=$work/bad.json "$GET" "$K" "$I" 512 1 2>&1)
check "after the last attempt: ENOENT, the holder idles (CPU ticks in 3 s: $((cpu1 - cpu0)))" \
	'[[ $r7 == "error errno=ENOENT"*"no template is ready"* ]] && [ $((cpu1 - cpu0)) -le 2 ]' "$r7"
buid=$(uid_of "$hpid")
out=$(QEMUBOX_CONFIG=$work/bad.json "$top/build/bin/qemubox-cleanup" qemubox-tmpl 2>&1)
wait "$hpid" 2>/dev/null
check "qemubox-cleanup stops a live holder: no process of its uid, its uid record freed" \
	'! kill -0 "$hpid" 2>/dev/null && [ -z "$(procs_of_uid "$buid")" ] && [ ! -e "$work/bad/state/uids/$buid" ]' "$out"
hpid=""
[ "$failed" = 0 ]
