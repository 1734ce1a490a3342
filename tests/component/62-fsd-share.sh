#!/usr/bin/env bash
# qemubox-fsd: volumes join and leave a running share (a pod's later
# containers), with the real virtiofsd (tests/component/62-fsd-share.py).
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
if [ ! -x build/libexec/qemubox-fsd ]; then
	echo "1..1"
	tap_skip_all 1 1 "fsd share" "build/libexec/qemubox-fsd not built (make)"
fi
exec python3 tests/component/62-fsd-share.py
