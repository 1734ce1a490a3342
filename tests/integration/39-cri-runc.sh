#!/usr/bin/env bash
# The CRI pod suite (tests/lib/cri-pods-suite.sh) with containerd's own runc
# handler: proves the CRI harness and the suite's expectations on the
# reference runtime, so a failure of 40-cri-pods.sh is qemubox's.
CRI_HANDLER=runc
. "$(dirname "$0")/../lib/cri-pods-suite.sh"
