# shellcheck shell=bash
# on_exit CMD: run the shell code CMD when this shell exits, and only in this
# shell. tap.sh and containerd.sh source this file; every suite and bench
# that sources them uses on_exit instead of `trap CMD EXIT`.
#
# Why: bash forks a subshell first and resets the traps it inherited only
# afterwards. A subshell signalled in between (TERM, INT, HUP: e.g. a
# background job killed right after it was started, as tests/lib/tap.sh
# stops a test's watchdog) runs the parent's EXIT trap itself. For a suite
# that trap is its whole clean-up: it removed the suite's live sandboxes and
# its scratch directory while the suite went on (the 80-confinement failures
# with "/tmp/qb-install.*: No such file or directory"). The guard compares
# $BASHPID, which a subshell does not share, with the pid that set the trap,
# in a `case`: a `[ ... ] ||` guard fails open, as a builtin can return
# non-zero while a signal is pending (seen: the clean-up ran in the child).
on_exit() {
	# shellcheck disable=SC2064 # the pid is fixed now, CMD expands at exit
	trap "case \$BASHPID in $BASHPID) $1
;; esac" EXIT
}
