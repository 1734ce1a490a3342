/*
 * Test-only: a shim's GET toward qemubox-tmpl (tests/component/44-tmpl.sh),
 * through shim/tmpl_client exactly as the shim calls it.
 *   tmpl-driver KERNEL INITRD MEMORY_MB BOOT_CPUS [CMDLINE]
 *   tmpl-driver --spawn LIBEXEC   (the shim daemon's tmpl_spawn_if_down)
 *   tmpl-driver --raw TYPE LEN [fd]  (a hand-made message of LEN zero
 *                 bytes, with /dev/null's fd: a peer breaking the protocol)
 *                 -> "answer TYPE" or "closed" (no answer)
 * ($QEMUBOX_CONFIG names the holder's state dir.) One line:
 *   ok gen=G ram=R state=S seals=0xN magic=QEVM mode=M mac=MAC
 *   error errno=NAME code=C msg
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/config.h"
#include "imsg/imsg.h"
#include "lib/log.h"
#include "lib/unix_addr.h"
#include "shim/tmpl_client.h"
#include "shim/tmpl_spawn.h"

static int
file_id(const char *path, struct qb_tmpl_file_id *id)
{
	int fd, rc;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	rc = qb_tmpl_file_id(fd, id);
	close(fd);
	return rc;
}

/* A hostile peer: one hand-made message, then what comes back. */
static int
raw(const struct qb_config *cfg, uint32_t type, size_t len, bool with_fd)
{
	static char zeros[MAX_IMSGSIZE];
	struct sockaddr_un sun;
	struct imsgbuf ib;
	struct imsg imsg;
	char path[PATH_MAX];
	int s, fd = -1;
	ssize_t n;

	if (tmpl_sock_path(cfg, path, sizeof(path)) == -1 ||
	    unix_addr(&sun, path) == -1 ||
	    (s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    connect(s, (struct sockaddr *)&sun, sizeof(sun)) == -1)
		fatal("connect");
	if (with_fd)
		fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	imsg_init(&ib, s);
	if (len > sizeof(zeros) ||
	    imsg_compose(&ib, type, 1, 0, fd, zeros, len) == -1 ||
	    imsg_flush(&ib) == -1)
		fatal("send");
	for (;;) {
		if ((n = imsg_get(&ib, &imsg)) == -1)
			break;
		if (n > 0) {
			printf("answer %u\n", imsg_get_type(&imsg));
			imsg_free(&imsg);
			return 0;
		}
		if ((n = imsg_read(&ib)) == -1 || n == 0)
			break;
	}
	printf("closed\n");
	return 0;
}

int
main(int argc, char *argv[])
{
	static struct qb_config cfg;
	struct qb_tmpl_get_req req;
	struct qb_tmpl_res res;
	struct qb_error err = {0};
	char magic[5] = "";
	int ram, state;
	const uint8_t *m;

	if (argc == 3 && strcmp(argv[1], "--spawn") == 0) {
		qb_config_defaults(&cfg);
		if (access(qb_config_path(), F_OK) == 0 &&
		    qb_config_load(qb_config_path(), &cfg, &err) == -1)
			fatalx("%s", err.msg);
		printf(
		    "spawn rc=%d\n", tmpl_spawn_if_down(&cfg, argv[2], true));
		return 0;
	}
	if (argc >= 4 && strcmp(argv[1], "--raw") == 0) {
		qb_config_defaults(&cfg);
		if (access(qb_config_path(), F_OK) == 0 &&
		    qb_config_load(qb_config_path(), &cfg, &err) == -1)
			fatalx("%s", err.msg);
		return raw(&cfg, (uint32_t)strtoul(argv[2], NULL, 10),
		    strcmp(argv[3], "get") == 0 ? sizeof(struct qb_tmpl_get_req)
		                                : strtoul(argv[3], NULL, 10),
		    argc > 4 && strcmp(argv[4], "fd") == 0);
	}
	if (argc < 5) {
		fprintf(stderr, "usage: tmpl-driver KERNEL INITRD MEMORY_MB "
		                "BOOT_CPUS [CMDLINE]\n");
		return 2;
	}
	log_init("tmpl-driver", 0);
	qb_config_defaults(&cfg);
	if (access(qb_config_path(), F_OK) == 0 &&
	    qb_config_load(qb_config_path(), &cfg, &err) == -1)
		fatalx("%s", err.msg);
	if (tmpl_client_init(&cfg) == -1)
		fatalx("socket path");
	memset(&req, 0, sizeof(req));
	if (file_id(argv[1], &req.kernel) == -1 ||
	    file_id(argv[2], &req.initrd) == -1)
		fatal("kernel/initrd");
	req.memory_mb = (uint32_t)strtoul(argv[3], NULL, 10);
	req.boot_cpus = (uint32_t)strtoul(argv[4], NULL, 10);
	req.machine = QB_VMM_MACHINE_AUTO;
	req.transport = QB_VMM_TRANSPORT_VIRTIO_SERIAL;
	snprintf(
	    req.cmdline, sizeof(req.cmdline), "%s", argc > 5 ? argv[5] : "");
	if (tmpl_client_get(&req, &res, &ram, &state, &err) == -1) {
		printf("error errno=%s code=%d %s\n",
		    errno == ENOENT  ? "ENOENT"
		    : errno == EPERM ? "EPERM"
		                     : strerror(errno),
		    err.code, err.msg);
		return 1;
	}
	if (read(state, magic, 4) != 4)
		magic[0] = '\0';
	m = res.start.mac;
	printf("ok gen=%llu ram=%llu state=%llu seals=0x%x magic=%s mode=%u "
	       "mac=%02x:%02x:%02x:%02x:%02x:%02x scsi=%u tap=%u id=%s\n",
	    (unsigned long long)res.generation,
	    (unsigned long long)res.ram_bytes,
	    (unsigned long long)res.state_bytes, fcntl(ram, F_GET_SEALS), magic,
	    res.start.ram_mode, m[0], m[1], m[2], m[3], m[4], m[5],
	    res.start.hotplug_disks, res.start.has_tap,
	    res.start.id[0] ? res.start.id : "-");
	close(ram);
	close(state);
	return 0;
}
