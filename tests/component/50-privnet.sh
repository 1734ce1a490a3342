#!/usr/bin/env bash
# qemubox-privnet against Debian's real CNI plugins (bridge + host-local +
# firewall), driven over imsg by tests/component/privnet_driver (playing the
# shim). Own names per run: bridge qbt<R>, subnet 10.231.<R>.0/24, sandbox
# ids with the same suffix, a private state dir and IPAM dataDir.
set -u
SELF=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
cd "$(dirname "$0")/../.."
. tests/lib/tap.sh
B=build
PRIVNET=$PWD/$B/libexec/qemubox-privnet
DRIVER=$PWD/$B/test/privnet_driver
n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); echo "not ok $n - $1"; [ -n "${2:-}" ] && echo "# $2"; }
check() { if eval "$2"; then ok "$1"; else nok "$1" "${3:-}"; fi; }
skip_all() { echo "1..1"; tap_skip_all 1 1 "privnet" "$1"; }

[ "$(id -u)" = 0 ] || skip_all "needs root (netns, CNI plugins)"
[ -x /usr/lib/cni/bridge ] && [ -x /usr/lib/cni/host-local ] && [ -x /usr/lib/cni/firewall ] ||
	skip_all "containernetworking-plugins not installed"
[ -x "$PRIVNET" ] && [ -x "$DRIVER" ] || skip_all "build qemubox-privnet and privnet_driver first (make)"
[ -c /dev/net/tun ] || skip_all "no /dev/net/tun"
# qemubox-cleanup (no id) judges every /run/netns/qemubox-* on the host: run
# in a private mount namespace with a private /run/netns so it sees only
# ours and can never touch a sandbox of someone else's test; whatever a
# failure leaves there goes with the namespace.
if [ -z "${QB_PRIVNET_TEST_NS:-}" ]; then
	unshare -m --propagation private true 2>/dev/null ||
		skip_all "cannot make a private mount namespace (unshare -m)"
	exec env QB_PRIVNET_TEST_NS=1 unshare -m --propagation private "$SELF" "$@"
fi
mkdir -p /run/netns && mount -t tmpfs -o mode=0755 qbtest /run/netns ||
	skip_all "cannot mount a private /run/netns"

R=$(( (RANDOM % 200) + 20 ))
while ip link show "qbt$R" >/dev/null 2>&1; do R=$(( (RANDOM % 200) + 20 )); done
T=$(mktemp -d)
BR=qbt$R
A=pna$R-$RANDOM B2=pnb$R-$RANDOM C=pnc$R-$RANDOM E=pne$R-$RANDOM F=pnf$R-$RANDOM G=png$R-$RANDOM H=pnh$R-$RANDOM J=pnj$R-$RANDOM
K=pnk$R-$RANDOM L=pnl$R-$RANDOM M=pnm$R-$RANDOM N=pnn$R-$RANDOM P=pnp$R-$RANDOM Q=pnq$R-$RANDOM
S=pns$R-$RANDOM U=pnu$R-$RANDOM
CRI=qbcri$R-$RANDOM
cleanup() {
	ip netns del "$CRI" 2>/dev/null
	for id in "$A" "$B2" "$C" "$E" "$F" "$G" "$H" "$J" "$K" "$L" "$M" "$N" "$P" "$Q" "$S" "$U" \
		"orph$R" "busy$R" evil$R; do
		umount "/run/netns/qemubox-$id" 2>/dev/null
		rm -f "/run/netns/qemubox-$id"
	done
	ip link del "$BR" 2>/dev/null
	ip link del "qbch$R" 2>/dev/null
	rm -rf "$T"
}
on_exit cleanup
mkdir -p "$T/net.d" "$T/share" "$T/ipam"
cat >"$T/net.d/10-test.conflist" <<JSON
{"cniVersion":"1.0.0","name":"$BR","plugins":[
 {"type":"bridge","bridge":"$BR","isGateway":true,"ipMasq":true,
  "ipam":{"type":"host-local","ranges":[[{"subnet":"10.231.$R.0/24"}]],
          "routes":[{"dst":"0.0.0.0/0"}],"dataDir":"$T/ipam"}},
 {"type":"firewall"}]}
JSON
cat >"$T/config.json" <<JSON
{"paths":{"share_dir":"$T/share","state_dir":"$T/state","log_dir":"$T/log"},
 "network":{"cni_conf_dir":"$T/net.d","cni_bin_dirs":["/usr/lib/cni"],"cni_timeout":"20s"}}
JSON
export QEMUBOX_CONFIG=$T/config.json
drive() { "$DRIVER" "$PRIVNET" "$@" 2>>"$T/privnet.log"; }
field() { sed -n "s/.*$1=\([^ ]*\).*/\1/p" | head -n1; }
ipam_has() { grep -rqs -- "$1" "$T/ipam/$BR"; }
ipt_has() { iptables-save 2>/dev/null | grep -q -- "$1"; }

echo "1..54"

# --- two sandboxes, the TAP, confinement, teardown --------------------------
out=$(drive setup "$A" - setup "$B2" - arp "$A" \
	sh "grep -E '^(CapEff|CapPrm|CapBnd|CapAmb|Seccomp|NoNewPrivs):' /proc/\$PRIVNET_PID/status >$T/status" \
	sh "ip netns exec qemubox-$A ip link show qbtap0 >/dev/null" \
	sh "iptables-save >$T/ipt.during" \
	teardown "$A" sh "ip netns exec qemubox-$B2 ip link show qbtap0 >/dev/null" \
	teardown "$A" teardown "$B2")
echo "$out" | sed 's/^/# /'
ipA=$(echo "$out" | grep "^setup id=$A " | field ip)
ipB=$(echo "$out" | grep "^setup id=$B2 " | field ip)
check "NET_SETUP gives sandbox A an address (own netns, CNI chain)" \
	'echo "$out" | grep -q "^setup id=$A ok=1 .*tapfd=1" && [ -n "$ipA" ]'
check "NET_SETUP gives sandbox B an address" '[ -n "$ipB" ]'
check "the two sandboxes get distinct IPs ($ipA, $ipB)" '[ "$ipA" != "$ipB" ]'
check "the result carries the gateway, the veth MAC and MTU" \
	'echo "$out" | grep "^setup id=$A " | grep -q "gw=10.231.$R.1 mac=[0-9a-f:]\{17\} mtu=1500 tap=qbtap0 veth=eth0 netns=/run/netns/qemubox-$A"'
check "an ARP request written into the TAP fd is answered by the gateway through it" \
	'echo "$out" | grep -q "^arp id=$A sent=[1-9][0-9]* reply=1"'
check "the TAP exists in the sandbox netns while set up" \
	'[ "$(echo "$out" | grep -c "^sh status=0")" -ge 4 ]'
check "firewall plugin rules for A existed during setup" 'grep -q -- "${ipA%/*}" "$T/ipt.during"'
caps=$(sed -n 's/^CapEff:\s*//p' "$T/status")
bnd=$(sed -n 's/^CapBnd:\s*//p' "$T/status")
check "privnet CapEff is NET_ADMIN|NET_RAW|SYS_ADMIN only ($caps)" '[ "$caps" = 0000000000203000 ]'
check "privnet CapBnd is cut to the same set ($bnd)" '[ "$bnd" = 0000000000203000 ]'
check "privnet runs under seccomp (Seccomp: 2)" 'grep -q "^Seccomp:\s*2" "$T/status"'
check "teardown of A succeeds, twice" \
	'[ "$(echo "$out" | grep -c "^teardown id=$A ok=1")" = 2 ]'
check "after teardown: no netns qemubox-$A" '! ip netns list | grep -q "qemubox-$A"'
check "after teardown: no IPAM allocation for A" '! ipam_has "$A" && [ ! -e "$T/ipam/$BR/${ipA%/*}" ]'
check "after teardown: no iptables rule or chain of A" '! ipt_has "${ipA%/*}" && ! ipt_has "\"$A\""'
check "B untouched by A's teardown, then removed too" \
	'echo "$out" | grep -q "^teardown id=$B2 ok=1" && ! ip netns list | grep -q "qemubox-$B2" && ! ipam_has "$B2"'

# --- NET_SETUP in two steps: the TAP first (QEMU boots), then CNI ----------
out=$(drive wire "$S" tap "$S" status "$S" \
	sh "ip netns exec qemubox-$S ip link show qbtap0 >/dev/null && ! grep -rqs -- $S $T/ipam/$BR" \
	wire "$S" arp "$S" sh "ip -n qemubox-$S link show eth0 >$T/veth.S" \
	teardown "$S")
echo "$out" | sed 's/^/# /'
macS=$(echo "$out" | grep "^tap id=$S " | field mac)
check "NET_WIRE before NET_TAP is refused, nothing created" \
	'echo "$out" | grep -q "^wire id=$S ok=0 code=9 .*no TAP of NET_TAP waits"'
check "NET_TAP answers the TAP and a local unicast MAC before any plugin ran (record adding, no IP)" \
	'echo "$out" | grep -q "^tap id=$S ok=1 mac=[0-9a-f][26ae]:[0-9a-f:]\{14\} tap=qbtap0 netns=/run/netns/qemubox-$S tapfd=1" && echo "$out" | grep -q "^status id=$S ok=1 state=1" && echo "$out" | grep -q "^sh status=0"'
check "NET_WIRE runs the chain: an address, the TAP's MAC on the veth, ARP answered through the TAP" \
	'echo "$out" | grep -q "^wire id=$S ok=1 ip=10.231.$R.[0-9]*/24 gw=10.231.$R.1 mac=$macS mtu=1500 tap=qbtap0 veth=eth0" && grep -q "link/ether $macS " "$T/veth.S" && echo "$out" | grep -q "^arp id=$S sent=[1-9][0-9]* reply=1"'
check "two-step sandbox: teardown leaves no netns, IPAM entry or rule" \
	'echo "$out" | grep -q "^teardown id=$S ok=1" && [ ! -e "/run/netns/qemubox-$S" ] && ! ipam_has "$S" && ! ipt_has "\"$S\""'

# --- privnet killed mid-setup; teardown from the db by a new privnet ---------
out=$(drive kill-in firewall "$C" status "$C" \
	sh "test -e /run/netns/qemubox-$C && grep -rqs -- $C $T/ipam/$BR" \
	teardown "$C" status "$C")
echo "$out" | sed 's/^/# /'
check "privnet killed during NET_SETUP of C, while the firewall plugin ran" \
	'echo "$out" | grep -q "^kill-in id=$C plugin=firewall seen=1 killed=1"'
check "the crash left C's netns and IP behind, and the db a record (state adding)" \
	'echo "$out" | grep -q "^status id=$C ok=1 state=1" && echo "$out" | grep -q "^sh status=0"'
check "teardown from the db leaves no netns, IPAM entry or iptables rule of C" \
	'echo "$out" | grep -q "^teardown id=$C ok=1" && ! ip netns list | grep -q "qemubox-$C" && ! ipam_has "$C" && ! ipt_has "\"$C\"" && echo "$out" | grep -q "^status id=$C ok=1 state=0"'

# A shim that dies while its NET_SETUP runs: privnet undoes it and exits.
out=$(drive abandon "$J" status "$J")
echo "$out" | sed 's/^/# /'
check "shim gone mid-setup: privnet undoes the setup (no netns, IPAM, record) and exits" \
	'echo "$out" | grep -q "^abandon id=$J exited=1 status=1" && echo "$out" | grep -q "^status id=$J ok=1 state=0" && [ ! -e "/run/netns/qemubox-$J" ] && ! ipam_has "$J" && ! ipt_has "\"$J\""'

# --- CRI mode: an existing, already wired netns ------------------------------
ip netns add "$CRI"
ip link add "qbch$R" type veth peer name eth0 netns "$CRI"
ip addr add "10.232.$R.1/24" dev "qbch$R"; ip link set "qbch$R" up
ip -n "$CRI" addr add "10.232.$R.2/24" dev eth0; ip -n "$CRI" link set eth0 up
ip -n "$CRI" route add default via "10.232.$R.1"
D=pnd$R-$RANDOM
out=$(drive setup "$D" "/run/netns/$CRI" arp "$D" teardown "$D" \
	sh "ip -n $CRI link show qbtap0 >/dev/null 2>&1" \
	sh "tc -n $CRI qdisc show dev eth0 | grep -q ingress")
echo "$out" | sed 's/^/# /'
check "CRI mode: no CNI run, the veth's address and gateway are found by netlink" \
	'echo "$out" | grep -q "^setup id=$D ok=1 ip=10.232.$R.2/24 gw=10.232.$R.1 .*netns=/run/netns/$CRI"'
check "CRI mode: the TAP works (ARP answered through it)" 'echo "$out" | grep -q "^arp id=$D sent=[1-9][0-9]* reply=1"'
check "CRI mode: teardown removes TAP and ingress qdisc, keeps the netns" \
	'echo "$out" | grep -q "^teardown id=$D ok=1" && [ "$(echo "$out" | grep -c "^sh status=1")" = 2 ] && ip netns list | grep -q "$CRI"'

# --- a malicious shim: the connection is killed, nothing is done ------------
# (the unterminated id is longer than the whole field, QB_ID_MAX, so the
# driver fills it without a NUL)
before=$(ip netns list | grep -c qemubox-)
out=$(drive raw-setup "evil$R" "/run/netns/../../etc/x" "" \
	raw-setup "a/b" "-" "" \
	raw-setup "evil$R" "-" "0123456789abcdef" \
	raw-setup "$(printf '%0100d' 0)" "-" "" \
	raw 101 10 raw 150 64 raw-fd 103)
echo "$out" | sed 's/^/# /'
check "path traversal, '/' in id, 16-char ifname, unterminated id: connection killed, privnet exits 1" \
	'[ "$(echo "$out" | grep -c "^raw-setup closed=1 exited=1 status=1")" = 4 ]'
check "wrong-size payload, unknown type, unexpected fd: connection killed" \
	'[ "$(echo "$out" | grep -c "^raw\(-fd\)\? closed=1 exited=1 status=1")" = 3 ]'
check "nothing was created by the rejected requests" \
	'[ "$(ip netns list | grep -c qemubox-)" = "$before" ] && [ ! -e /run/netns/qemubox-evil$R ]'
check "privnet logged why it closed the connection" 'grep -q "closing the connection" "$T/privnet.log"'

# --- crash recovery: NET_SETUP of an id something was left under -----------
# A second config over the same network with its own state dir: what it
# leaves has no record in the first one's db (a wiped state dir).
cat >"$T/config3.json" <<JSON
{"paths":{"share_dir":"$T/share","state_dir":"$T/state3","log_dir":"$T/log"},
 "network":{"cni_conf_dir":"$T/net.d","cni_bin_dirs":["/usr/lib/cni"],"cni_timeout":"20s"}}
JSON
ipam_count() { grep -rls -- "$1" "$T/ipam/$BR" | wc -l; }
# The "shim" (driver) exits without NET_TEARDOWN: K's record names a dead owner.
out=$(drive setup "$K" -)
ipK=$(echo "$out" | field ip)
out=$(drive status "$K" setup "$K" - arp "$K" sh "test \$(grep -rls -- $K $T/ipam/$BR | wc -l) = 1" teardown "$K")
echo "$out" | sed 's/^/# /'
ipK2=$(echo "$out" | grep "^setup id=$K " | field ip)
check "NET_SETUP over the record of a dead shim reclaims it and succeeds ($ipK, then $ipK2)" \
	'[ -n "$ipK" ] && echo "$out" | grep -q "^status id=$K ok=1 state=2" && echo "$out" | grep -q "^setup id=$K ok=1 .*tapfd=1" && echo "$out" | grep -q "^arp id=$K sent=[1-9][0-9]* reply=1"'
check "the dead shim's address was released by CNI DEL: one IPAM allocation for K, none after teardown" \
	'echo "$out" | grep -q "^sh status=0" && [ "$(ipam_count "$K")" = 0 ] && [ ! -e "/run/netns/qemubox-$K" ] && ! ipt_has "\"$K\""'
check "privnet logged why it reclaimed K's network" \
	'grep -q "claim_id: $K: reclaiming a stale network (its shim (pid [0-9]*) is gone" "$T/privnet.log"'
# The same id again while its shim runs: refused, the first one untouched.
out=$(drive setup "$L" - setup "$L" - arp "$L" teardown "$L")
echo "$out" | sed 's/^/# /'
check "NET_SETUP of an id whose shim still runs is refused with the id named" \
	'echo "$out" | grep -q "^setup id=$L ok=0 code=6 err=\"sandbox $L: its network is in use by a running sandbox (its shim (pid [0-9]*) is running)\""'
check "the running sandbox's network still works after the refused request" \
	'echo "$out" | grep -q "^arp id=$L sent=[1-9][0-9]* reply=1" && echo "$out" | grep -q "^teardown id=$L ok=1" && [ "$(ipam_count "$L")" = 0 ]'
# A netns with no record at all and nothing in it (a crash between the two).
ip netns add "qemubox-$M"
out=$(drive setup "$M" - teardown "$M")
echo "$out" | sed 's/^/# /'
check "NET_SETUP over a stray qemubox-<id> netns with no record reclaims it" \
	'echo "$out" | grep -q "^setup id=$M ok=1" && echo "$out" | grep -q "^teardown id=$M ok=1" && [ ! -e "/run/netns/qemubox-$M" ]'
# Record lost (other state dir) but the CNI allocation real: DEL with the
# current conflist gives the address back before the new ADD.
out=$(QEMUBOX_CONFIG=$T/config3.json drive setup "$N" -)
ipN=$(echo "$out" | field ip)
out=$(drive setup "$N" - sh "test \$(grep -rls -- $N $T/ipam/$BR | wc -l) = 1" teardown "$N")
echo "$out" | sed 's/^/# /'
check "no record, real allocation ($ipN): reclaimed with CNI DEL, one IPAM entry, none after teardown" \
	'[ -n "$ipN" ] && echo "$out" | grep -q "^setup id=$N ok=1" && echo "$out" | grep -q "^sh status=0" && [ "$(ipam_count "$N")" = 0 ] && ! ipt_has "\"$N\"" && [ ! -e "/run/netns/qemubox-$N" ]'
QEMUBOX_CONFIG=$T/config3.json "$PWD/$B/bin/qemubox-cleanup" "$N" >/dev/null 2>&1
# No record, but a TAP in it: a VM (of another state dir) holds it.
ip netns add "qemubox-$P"
ip -n "qemubox-$P" tuntap add dev qbtap0 mode tap
out=$(drive setup "$P" -)
echo "$out" | sed 's/^/# /'
check "NET_SETUP over a no-record netns whose TAP exists is refused, the netns kept" \
	'echo "$out" | grep -q "^setup id=$P ok=0 code=6 .*sandbox $P: .*a VM holds its TAP" && ip -n "qemubox-$P" link show qbtap0 >/dev/null 2>&1'

# --- qemubox-cleanup: a sandbox whose shim is gone ---------------------------
CLEANUP=$PWD/$B/bin/qemubox-cleanup
# The driver (the "shim") exits without NET_TEARDOWN: E's network is orphaned.
out=$(drive setup "$E" -)
ipE=$(echo "$out" | field ip)
mkdir -p "$T/state/sandboxes/$E" "$T/log/$E"
ip netns add "qemubox-orph$R"
# Q: a real CNI allocation whose record is in another state dir.
out=$(QEMUBOX_CONFIG=$T/config3.json drive setup "$Q" -)
ipQ=$(echo "$out" | field ip)
# busy: no record, a process inside it.
ip netns add "qemubox-busy$R"
ip netns exec "qemubox-busy$R" sleep 60 &
busy_pid=$!
for _ in 1 2 3 4 5 6 7 8 9 10; do [ -n "$(ip netns pids "qemubox-busy$R")" ] && break; sleep 0.2; done
st=$("$CLEANUP" --status 2>&1)
echo "$st" | sed 's/^/# /'
check "cleanup --status lists E with its IP and a gone shim, and the orphan netns" \
	'echo "$st" | grep "^$E " | grep -q "${ipE} .*shim pid [0-9]* gone" && echo "$st" | grep -q "^orph$R .*(stale: no record, no TAP, nobody in the netns)"'
check "cleanup --status tells an orphan netns in use (a TAP held, a process inside)" \
	'echo "$st" | grep -q "^$P .*(in use: no record, and a VM holds its TAP)" && echo "$st" | grep -q "^busy$R .*(in use: no record, and 1 process uses the netns)"'
dry=$("$CLEANUP" -n 2>&1)
echo "$dry" | sed 's/^/# /'
check "cleanup -n only says what it would do" \
	'echo "$dry" | grep -q "would clean up $E" && echo "$dry" | grep -q "would remove netns /run/netns/qemubox-orph$R" && [ -e "/run/netns/qemubox-$E" ] && [ -e "/run/netns/qemubox-orph$R" ] && ipam_has "$E"'
run=$("$CLEANUP" 2>&1); rc=$?
echo "$run" | sed 's/^/# /'
check "cleanup removes E's netns, IPAM allocation, iptables rules and dirs" \
	'[ $rc = 0 ] && [ ! -e "/run/netns/qemubox-$E" ] && ! ipam_has "$E" && ! ipt_has "\"$E\"" && [ ! -e "$T/state/sandboxes/$E" ] && [ ! -e "$T/log/$E" ]'
check "cleanup removes no-record netns nobody uses and says so" \
	'[ ! -e "/run/netns/qemubox-orph$R" ] && echo "$run" | grep -q "^removed netns /run/netns/qemubox-orph$R (no record, no TAP, nobody in the netns)"'
check "cleanup of a no-record netns with a real allocation ($ipQ) releases it: no netns, IPAM entry, iptables rule" \
	'[ -n "$ipQ" ] && echo "$run" | grep -q "^removed netns /run/netns/qemubox-$Q" && [ ! -e "/run/netns/qemubox-$Q" ] && ! ipam_has "$Q" && ! ipt_has "\"$Q\""'
check "cleanup keeps no-record netns in use (TAP held, process inside) and says why" \
	'[ -e "/run/netns/qemubox-$P" ] && [ -e "/run/netns/qemubox-busy$R" ] && echo "$run" | grep -q "^kept /run/netns/qemubox-busy$R: no record, and 1 process uses the netns"'
kill "$busy_pid" 2>/dev/null; wait "$busy_pid" 2>/dev/null
run=$("$CLEANUP" "$P" 2>&1)
run2=$("$CLEANUP" 2>&1)
echo "$run$run2" | sed 's/^/# /'
check "cleanup ID removes a named netns even in use; a netns whose process left goes too" \
	'[ ! -e "/run/netns/qemubox-$P" ] && [ ! -e "/run/netns/qemubox-busy$R" ]'
QEMUBOX_CONFIG=$T/config3.json "$CLEANUP" >/dev/null 2>&1
run=$("$CLEANUP" 2>&1)
check "cleanup again: nothing to clean up" 'echo "$run" | grep -q "nothing to clean up"'

# --- a failing chain: what the first plugins added is DEL'd -------------------
mkdir -p "$T/bin" "$T/net2.d" "$T/state2"
cat >"$T/bin/qbfail" <<'SH'
#!/bin/sh
cat >/dev/null
[ "$CNI_COMMAND" = DEL ] && exit 0
echo "qbfail: refusing $CNI_CONTAINERID" >&2
printf '{"cniVersion":"1.0.0","code":7,"msg":"qbfail says no","details":"by design"}'
exit 1
SH
cat >"$T/bin/qbslow" <<'SH'
#!/bin/sh
[ "$CNI_COMMAND" = DEL ] && exit 0
exec sleep 30
SH
cat >"$T/bin/qbsys" <<'SH'
#!/bin/sh
[ "$CNI_COMMAND" = DEL ] && exit 0
exec chroot / /bin/true
SH
chmod +x "$T/bin/qbfail" "$T/bin/qbslow" "$T/bin/qbsys"
mkconf() { # dir, second plugin type
	cat >"$1/10-fail.conflist" <<JSON
{"cniVersion":"1.0.0","name":"$BR","plugins":[
 {"type":"bridge","bridge":"$BR","isGateway":true,"ipMasq":true,
  "ipam":{"type":"host-local","ranges":[[{"subnet":"10.231.$R.0/24"}]],"dataDir":"$T/ipam"}},
 {"type":"$2"}]}
JSON
}
mkconf "$T/net2.d" qbfail
cat >"$T/config2.json" <<JSON
{"paths":{"share_dir":"$T/share","state_dir":"$T/state2","log_dir":"$T/log"},
 "network":{"cni_conf_dir":"$T/net2.d","cni_bin_dirs":["/usr/lib/cni","$T/bin"],"cni_timeout":"2s"}}
JSON
out=$(QEMUBOX_CONFIG=$T/config2.json drive setup "$F" - status "$F")
echo "$out" | sed 's/^/# /'
check "a plugin's CNI error object reaches the caller" \
	'echo "$out" | grep -q "^setup id=$F ok=0 .*CNI plugin qbfail ADD: CNI error 7: qbfail says no: by design"'
check "after the failed ADD nothing of F is left (netns, IPAM, iptables, record)" \
	'[ ! -e "/run/netns/qemubox-$F" ] && ! ipam_has "$F" && ! ipt_has "\"$F\"" && echo "$out" | grep -q "^status id=$F ok=1 state=0"'
out=$(QEMUBOX_CONFIG=$T/config2.json drive tap "$U" wire "$U" status "$U" tap "$U")
echo "$out" | sed 's/^/# /'
check "two steps, failing chain: NET_WIRE fails with the plugin's error, nothing of U left, the id free again" \
	'echo "$out" | grep -q "^wire id=$U ok=0 .*CNI plugin qbfail ADD: CNI error 7: qbfail says no: by design" && echo "$out" | grep -q "^status id=$U ok=1 state=0" && [ "$(echo "$out" | grep -c "^tap id=$U ok=1")" = 2 ]'
QEMUBOX_CONFIG=$T/config2.json drive teardown "$U" >/dev/null
check "... and after its teardown no netns, IPAM entry or rule of U" \
	'[ ! -e "/run/netns/qemubox-$U" ] && ! ipam_has "$U" && ! ipt_has "\"$U\""'
mkconf "$T/net2.d" qbslow
t0=$(date +%s)
out=$(QEMUBOX_CONFIG=$T/config2.json drive setup "$G" -)
t1=$(date +%s)
echo "$out" | sed 's/^/# /'
check "a plugin that hangs is killed at network.cni_timeout ($((t1 - t0))s)" \
	'echo "$out" | grep -q "^setup id=$G ok=0 code=4 .*qbslow ADD: timed out after 2000 ms" && [ $((t1 - t0)) -lt 10 ]'
check "after the timeout nothing of G is left" \
	'[ ! -e "/run/netns/qemubox-$G" ] && ! ipam_has "$G" && ! ipt_has "\"$G\""'

# privnet's seccomp filter is enforced and inherited: chroot(2) is not in it.
mkconf "$T/net2.d" qbsys
out=$(QEMUBOX_CONFIG=$T/config2.json drive setup "$H" -)
echo "$out" | sed 's/^/# /'
check "a forbidden syscall (chroot) under privnet's filter is killed with SIGSYS, nothing left" \
	'echo "$out" | grep -q "^setup id=$H ok=0 .*qbsys ADD: killed by signal 31" && [ ! -e "/run/netns/qemubox-$H" ] && ! ipam_has "$H"'
