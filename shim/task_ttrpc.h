#ifndef QEMUBOX_SHIM_TASK_TTRPC_H
#define QEMUBOX_SHIM_TASK_TTRPC_H

#include "lib/ttrpc.h"
#include "shim/task_service.h"

/*
 * Register the 17 Task methods under containerd.task.v2.Task and
 * containerd.task.v3.Task; they decode, validate ids, call ts_*() and
 * encode the answers. default_ns: the shim's -namespace, used when a call
 * carries no containerd-namespace-ttrpc metadata.
 */
int task_ttrpc_register(
    struct ttrpc_server *srv, struct task_service *svc, const char *default_ns);

#endif
