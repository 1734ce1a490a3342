#!/usr/bin/env bash
# The real shim (CLI, ttrpc, Task service, events) against a private
# containerd 1.6, with a test backend that runs nothing
# (build/test/containerd-shim-qbfake-v1, tests/integration/shim_fake_backend.c):
# exit codes through Wait, 128+signal after a kill, exec, the event order
# containerd receives, and nothing left behind.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
. tests/lib/containerd.sh

FAKE=${QB_FAKE_SHIM:-$CTD_TOP/${BUILD:-build}/test/containerd-shim-qbfake-v1}
n=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
failed=0
not_ok() { n=$((n + 1)); failed=1; echo "not ok $n - $*"; }
check() {
	local name=$1; shift
	if "$@"; then ok "$name"; else not_ok "$name"; fi
}
T=19
echo "1..$T"
skip_all() { tap_skip_all 1 "$T" "shim lifecycle" "$1"; }
[ -x "$FAKE" ] || skip_all "$FAKE not built (make all)"
ctd_start || skip_all "$CTD_SKIP"
evpid=
cleanup() {
	[ -n "$evpid" ] && kill "$evpid" 2>/dev/null && wait "$evpid" 2>/dev/null
	ctd_stop
}
on_exit cleanup
ctd_import_busybox >/dev/null 2>&1 || skip_all "cannot import the busybox image"
ctr --address "$CTD_SOCK" events >"$CTD_DIR/events.txt" 2>&1 &
evpid=$!
sleep 0.3

r() { timeout 60 ctr --address "$CTD_SOCK" --namespace "$CTD_NS" "$@"; }

# 1: the init's exit code comes back through Wait (ctr run returns it).
r run --runtime "$FAKE" "$CTD_IMAGE" lc1 exit 7 >/dev/null 2>&1
check "ctr run returns the container's exit status (7)" test "$?" = 7

# 2-3: a running task is RUNNING with our pid; exec runs and exits 0.
r run -d --runtime "$FAKE" "$CTD_IMAGE" lc2 sleep 60 >/dev/null 2>&1
check "task RUNNING after ctr run -d" \
	grep -qE "^lc2 +[0-9]+ +RUNNING" <<<"$(r task ls)"
r task exec --exec-id e1 lc2 exit 0 >/dev/null 2>&1
check "exec runs and returns 0" test "$?" = 0

# 4-5: kill -9 stops it with 128+9; it can then be removed.
r task kill -s 9 lc2 >/dev/null 2>&1
for i in $(seq 1 100); do
	grep -qE "^lc2 .*STOPPED" <<<"$(r task ls)" && break
	sleep 0.1
done
check "task STOPPED after kill -9" grep -qE "^lc2 .*STOPPED" <<<"$(r task ls)"
r task rm lc2 >/dev/null 2>&1
check "task rm of the stopped task" test "$?" = 0
r c rm lc1 lc2 >/dev/null 2>&1

# 6-8: a pod: two containers with one sandbox id share one shim, which
# stays while one of them remains (Shutdown) and goes with the last.
pod="--annotation io.kubernetes.cri.sandbox-id=pod-$$"
r run -d $pod --runtime "$FAKE" "$CTD_IMAGE" pa sleep 60 >/dev/null 2>&1
r run -d $pod --runtime "$FAKE" "$CTD_IMAGE" pb sleep 60 >/dev/null 2>&1
tl=$(r task ls)
check "pod: both containers RUNNING in one shim" \
	test "$(grep -cE '^p[ab] .*RUNNING' <<<"$tl")" = 2 -a "$(ctd_shim_pids | wc -l)" = 1
r task kill -s 9 pa >/dev/null 2>&1; sleep 0.3
r task rm pa >/dev/null 2>&1; r c rm pa >/dev/null 2>&1
check "pod: shim stays while pb remains, pb still RUNNING" \
	test "$(ctd_shim_pids | wc -l)" = 1 -a -n "$(r task ls | grep -E '^pb .*RUNNING')"
r task kill -s 15 pb >/dev/null 2>&1; sleep 0.3
r task rm pb >/dev/null 2>&1; r c rm pb >/dev/null 2>&1
for i in $(seq 1 150); do
	[ -z "$(ctd_shim_pids)" ] && break
	sleep 0.1
done
check "pod: the shim exits with the last container" test -z "$(ctd_shim_pids)"

sleep 0.5
kill "$evpid" 2>/dev/null; wait "$evpid" 2>/dev/null; evpid=
ev=$(grep -E '/tasks/' "$CTD_DIR/events.txt")
echo "# events: $(grep -oE '/tasks/[a-z-]+ \{"container_id":"lc[12]"(,"(id|exec_id)":"[a-z0-9]+")?' <<<"$ev" | tr '\n' ' ')"
topics() { # container: the /tasks topics containerd got for it, in order
	grep -F "\"container_id\":\"$1\"" <<<"$ev" | grep -oE '/tasks/[a-z-]+' | tr '\n' ' '
}
# 9-11: containerd accepted every event, in the runtime-v2 order.
check "lc1 events: create start exit delete" \
	test "$(topics lc1)" = "/tasks/create /tasks/start /tasks/exit /tasks/delete "
check "lc2 events: create start exec-added exec-started exit(e1) delete(e1) exit delete" \
	test "$(topics lc2)" = "/tasks/create /tasks/start /tasks/exec-added /tasks/exec-started /tasks/exit /tasks/delete /tasks/exit /tasks/delete "
check "TaskExit of init: id = container id, exit_status 137" \
	grep -qF '/tasks/exit {"container_id":"lc2","id":"lc2","pid":' <<<"$(grep '"exit_status":137' <<<"$ev")"

# 12-13: containerd restarts while a task runs: it reconnects (address
# file, Connect), and the task's later exit reaches the new containerd.
r run -d --runtime "$FAKE" "$CTD_IMAGE" rs sleep 60 >/dev/null 2>&1
ctd_restart
check "after a containerd restart the task is still RUNNING" \
	grep -qE "^rs .*RUNNING" <<<"$(r task ls 2>&1)"
r task kill -s 9 rs >/dev/null 2>&1
for i in $(seq 1 100); do
	grep -qE "^rs .*STOPPED" <<<"$(r task ls)" && break
	sleep 0.1
done
check "its exit after the restart reaches containerd (STOPPED)" \
	grep -qE "^rs .*STOPPED" <<<"$(r task ls)"
r task rm rs >/dev/null 2>&1; r c rm rs >/dev/null 2>&1

# 14-15: the shim dies (SIGKILL) under a running task: containerd runs our
# `delete`, which removes the dead daemon's socket; the task is gone.
ctr --address "$CTD_SOCK" events >"$CTD_DIR/events2.txt" 2>&1 &
evpid=$!
sleep 0.3
r run -d --runtime "$FAKE" "$CTD_IMAGE" k1 sleep 60 >/dev/null 2>&1
ksock=$(sed 's|^unix://||' "$CTD_DIR/state/io.containerd.runtime.v2.task/$CTD_NS/k1/address" 2>/dev/null)
kpid=$(ctd_shim_pids)
[ -n "$kpid" ] && kill -KILL $kpid
for i in $(seq 1 100); do
	[ -z "$(r task ls -q 2>/dev/null | grep -x k1)" ] && break
	sleep 0.1
done
check "shim killed: containerd drops the task" \
	test -n "$kpid" -a -z "$(r task ls -q 2>/dev/null | grep -x k1)"
for i in $(seq 1 50); do
	[ -e "${ksock:-/nonexistent}" ] || break
	sleep 0.1
done
check "shim killed: delete removed its stale socket" \
	test -n "$ksock" -a ! -e "${ksock:-/nonexistent}"
r c rm k1 >/dev/null 2>&1
sleep 0.3
kill "$evpid" 2>/dev/null; wait "$evpid" 2>/dev/null; evpid=
# containerd publishes this TaskExit itself, from our DeleteResponse
# (255 had it failed to run or decode `delete`).
check "shim killed: containerd's TaskExit carries delete's 137" \
	grep -qE '/tasks/exit \{"container_id":"k1","id":"k1".*"exit_status":137' \
	"$CTD_DIR/events2.txt"

# 17-18: nothing left: no shim, no socket, no bundle.
for i in $(seq 1 150); do
	[ -z "$(ctd_shim_pids)" ] && break
	sleep 0.1
done
check "no shim process left" test -z "$(ctd_shim_pids)"
left=$(ls "$CTD_DIR/state/io.containerd.runtime.v2.task/$CTD_NS" 2>/dev/null)
socks=0
for id in lc1 lc2 rs k1 pod-$$; do
	s=/run/containerd/s/$(printf '%s' "$CTD_SOCK/$CTD_NS/$id" | sha256sum | cut -c1-64)
	[ -e "$s" ] && socks=$((socks + 1))
done
check "no bundle or socket left" test -z "$left" -a "$socks" = 0
# 19: the shim runs under ASan/UBSan here; its stderr is containerd's log.
if grep -q "AddressSanitizer\|LeakSanitizer\|runtime error:" <<<"$(ctd_log)"; then
	ctd_log | grep -A8 "AddressSanitizer\|LeakSanitizer\|runtime error:" | sed 's/^/# /'
	not_ok "no sanitizer report from the shim"
else
	ok "no sanitizer report from the shim"
fi
if [ "$failed" = 1 ]; then
	echo "# containerd's log (shim lines and warnings):"
	ctd_log | grep -E "proc=shim|level=(warning|error)" | tail -40 | sed 's/^/# /'
fi
exit 0
