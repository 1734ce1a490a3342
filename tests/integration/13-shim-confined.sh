#!/usr/bin/env bash
# 11-shim-lifecycle again, against a daemon under its real confinement
# (seccomp allowlist + Landlock, shim/shim_landlock.c): the fake backend in
# a normal build that links it (build/test/containerd-shim-qbfakec-v1).
# A syscall or path the daemon needs but the confinement forbids shows up
# here as a killed shim or a failed step.
cd "$(dirname "$0")/../.." || exit 1
export QB_FAKE_SHIM=$PWD/${BUILD:-build}/test/containerd-shim-qbfakec-v1
exec tests/integration/11-shim-lifecycle.sh
