#!/usr/bin/env bash
# The harness itself (tests/lib/tap.sh, tests/lib/onexit.sh): a suite's EXIT
# trap, which is its whole clean-up (sandboxes, containerd, scratch
# directory), runs once, in the suite's own shell, however its tests and
# their watchdogs come and go. A subshell signalled before bash reset the
# traps it inherited used to run it too, mid-suite: the scratch directory
# of 80-confinement vanished under its running tests.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
work=$(mktemp -d)
on_exit 'rm -rf "$work"'
top=$PWD

# A suite of 15 tests that return at once (each stops its watchdog right
# after starting it), which also kills 15 background jobs of its own shell
# right after starting each; its clean-up appends the pid of the shell that
# ran it. (Without the fix, nearly every one of those ran the clean-up.)
cat >"$work/suite.sh" <<'SH'
#!/usr/bin/env bash
. "$TOP/tests/lib/tap.sh"
on_exit 'echo "$BASHPID" >>"$W/ran"'
echo "$$" >"$W/main"
t_fast() { :; }
for i in $(seq 1 15); do tap_run "fast $i" t_fast; done
for i in $(seq 1 15); do sleep 30 & p=$!; kill "$p"; wait "$p"; done
tap_done
SH
chmod +x "$work/suite.sh"

t_trap_once() {
	TOP=$top W=$work "$work/suite.sh" >"$work/out" 2>&1 || fail "the suite failed: $(grep -v '^ok' "$work/out" | head -5)" || return
	[ "$(grep -c '^ok ' "$work/out")" = 15 ] || fail "$(grep -c '^ok ' "$work/out") of 15 tests passed" || return
	[ -s "$work/ran" ] || fail "the clean-up never ran" || return
	[ "$(cat "$work/ran")" = "$(cat "$work/main")" ] ||
		fail "the clean-up ran $(wc -l <"$work/ran") times, in pids $(tr '\n' ' ' <"$work/ran")(the suite is $(cat "$work/main"))"
}
tap_run "a suite's EXIT trap runs once, in its own shell, past 15 watchdogs and 15 killed jobs" t_trap_once
tap_done
