/*
 * A Task API client for tests/integration/10-shim-contract.sh: one Connect
 * call on a shim socket under a given service name, so the suite checks what
 * containerd 1.6 (containerd.task.v2.Task) and 2.x (containerd.task.v3.Task)
 * each get from the same daemon.
 *
 *   ttrpc-connect SOCKET SERVICE ID
 *
 * Prints "shim_pid=N task_pid=N version=S" and exits 0, or "error code=N: msg"
 * and exits 1.
 */
#include <stdio.h>
#include <unistd.h>

#include "lib/error.h"
#include "lib/ttrpc.h"
#include "proto/task.pb-c.h"

int
main(int argc, char *argv[])
{
	Containerd__Task__V2__ConnectRequest req;
	Containerd__Task__V2__ConnectResponse *res = NULL;
	ProtobufCMessage *out = NULL;
	struct qb_error err = {0};
	int fd, rc;

	if (argc != 4) {
		fprintf(stderr, "usage: ttrpc-connect SOCKET SERVICE ID\n");
		return 2;
	}
	if ((fd = ttrpc_dial_unix(argv[1])) == -1) {
		perror(argv[1]);
		return 1;
	}
	containerd__task__v2__connect_request__init(&req);
	req.id = argv[3];
	rc = ttrpc_call_sync(fd, argv[2], "Connect", &req.base,
	    5ull * 1000 * 1000 * 1000, NULL, 0,
	    &containerd__task__v2__connect_response__descriptor, &out, &err);
	close(fd);
	if (rc == -1) {
		printf("error code=%d: %s\n", err.code, err.msg);
		return 1;
	}
	res = (Containerd__Task__V2__ConnectResponse *)out;
	printf("shim_pid=%u task_pid=%u version=%s\n", res->shim_pid,
	    res->task_pid, res->version ? res->version : "");
	protobuf_c_message_free_unpacked(out, NULL);
	return 0;
}
