#!/usr/bin/env bash
# Pods through Kubernetes' CRI with the qemubox runtime handler: several
# containers in one sandbox VM (later containers' disks hot-added as SCSI
# LUNs), the same tests 39-cri-runc.sh passes with runc.
CRI_HANDLER=qemubox
. "$(dirname "$0")/../lib/cri-pods-suite.sh"
