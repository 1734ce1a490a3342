/*
 * The VM backend: how the Task service's operations (shim/backend.h) become
 * a sandbox VM. One shim serves one sandbox (a container, or a CRI pod), so
 * one VM. The backend is two halves along that line:
 *
 *   shim/vm_sandbox.c    the sandbox (struct vmb): network (privnet), VM
 *                        (vmmon), guest channel and client, the volume
 *                        share (fsd), hotplug, guest events, a dead VM,
 *                        Shutdown, `delete` after the daemon died
 *   shim/vm_container.c  its containers (struct vmb_ctr) and their
 *                        processes (struct vmb_proc): Create (storage plan,
 *                        disks, a pod's later container's LUNs and share
 *                        slots, guest Create), and every other Task
 *                        operation, forwarded to the guest
 *
 * sharing shim/vm_backend_int.h. This file is the ops table: where a Task
 * RPC lands in the backend (vmb_<op>).
 */
#include "shim/vm_backend.h"
#include "shim/vm_backend_int.h"

const struct backend_ops vm_backend_ops = {
    .name = "vm",
    .init = vmb_init,
    .fini = vmb_fini,
    .create = vmb_create,
    .start = vmb_start,
    .delete = vmb_delete,
    .exec = vmb_exec,
    .kill = vmb_kill,
    .pause = vmb_pause,
    .resume = vmb_resume,
    .resize_pty = vmb_resize_pty,
    .close_io = vmb_close_io,
    .update = vmb_update,
    .pids = vmb_pids,
    .stats = vmb_stats,
    .shutdown = vmb_shutdown,
    .cleanup_orphan = vm_backend_cleanup_orphan,
};
