/*
 * Test-only: plays the shim toward qemubox-vmmon for
 * tests/component/40-vmmon.sh. Spawns vmmon like the shim daemon does
 * (lib/proc_spawn, imsg on fd 3), talks to it only through
 * shim/vmmon_client, and reads commands on stdin, one per line, answering
 * one line each (events are printed as "event ..." lines as they come):
 *   start microvm|q35 [CAP] -> started pid=N machine=M accel=A
 *                           (CAP: console.log cap in bytes)
 *   ready                 -> ready cpus=N     (guest's "READY n" line)
 *   guest_cpus            -> guest cpus=N     (asks the guest to online)
 *   guest_disk            -> guest disk=SERIAL DATA
 *   guest_net             -> guest mac=MAC
 * $VMMON_TEST_DISK (a file) is attached read-only as disk 0, serial
 * qb-test-disk; $VMMON_TEST_TAP=1 adds a TAP NIC (MAC 02:00:00:00:00:01).
 *   status                -> status running=R state=S
 *   pause | resume        -> ok
 *   cpu_add | cpu_del | cpu_query -> cpu present=P max=M dev=D
 *   mem_add MB | mem_del | mem_query -> mem base=B plugged=P
 *   disk_add LUN ro|rw|ro-as-rw SERIAL FILE -> disk lun=N dev=D
 *                         (ro-as-rw: says read-only, sends an O_RDWR fd)
 *   disk_del LUN          -> disk lun=N dev=D
 * $VMMON_TEST_SCSI=1 starts the VM with the pod's SCSI bus (hotplug_disks).
 * $VMMON_TEST_TEMPLATE=1 starts it in ram_mode TEMPLATE: RAM in a fresh
 * memfd, the state into another one (the template holder's part), and:
 *   save [FILE]           -> saved state=S ram=R seals=OK|why
 *                           (SAVE; then the RAM memfd is sealed
 *                           W|SHRINK|GROW|SEAL, which fails while anyone
 *                           still maps it shared; FILE gets the state)
 *   ramsum                -> ramsum X  (a checksum of the RAM memfd's bytes)
 *   respawn               -> respawned vmmon=V  (a new vmmon, new channel)
 * "start microvm CAP clone FILE" starts a clone (ram_mode CLONE) from the
 * sealed RAM memfd and the state in FILE (read-only); "clone-unsealed FILE"
 * offers a fresh unsealed memfd instead (45-vmmon-clone).
 *   env NAME=VALUE        -> env ok  (for the next start: VMMON_TEST_DISK;
 *                           an empty VALUE unsets NAME)
 *   shutdown MS           -> shutdown ok
 *   pids                  -> pids vmmon=V qemu=Q
 *   close                 -> closed   (drops the imsg socket, like a dead shim)
 *   wait_rss              -> rss vmmon=KB (vmmon's VmHWM, after 1 s of events)
 *   wait_vmmon            -> vmmon exited status=N
 *   raw TYPE LEN [fd]     -> raw sent  (a hand-made imsg of TYPE with LEN
 *                           zero bytes, LEN "start" = a START_REQ's size,
 *                           and /dev/null's fd with "fd": a shim that
 *                           breaks the protocol)
 * Any failure answers "error <message>".
 *   vmmon-driver VMMON KERNEL INITRD CONSOLE_LOG [vmmon args...]
 */
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <linux/if.h>
#include <linux/if_tun.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "imsg/imsg.h"
#include "lib/evloop.h"
#include "lib/log.h"
#include "lib/proc_spawn.h"
#include "shim/vmmon_client.h"

static struct vmmon_client *client;
static pid_t vmmon_pid, qemu_pid;
static int chan_fd = -1;
static int ram_fd = -1, state_fd = -1;

/* FNV-1a over the memfd's bytes: a clone must leave them as they were. */
static unsigned long long
ram_sum(int fd)
{
	static unsigned char buf[1 << 16];
	unsigned long long h = 1469598103934665603ull;
	off_t off = 0;
	ssize_t r, i;

	while ((r = pread(fd, buf, sizeof(buf), off)) > 0) {
		for (i = 0; i < r; i++)
			h = (h ^ buf[i]) * 1099511628211ull;
		off += r;
	}
	return h;
}

/* The start's RAM and state for mode (VMMON_TEST_TEMPLATE, clone*). */
static int
ram_mode_fds(struct vm_start_params *p, const char *mode, const char *file,
    struct qb_error *err)
{
	if (strncmp(mode, "clone", 5) == 0) {
		p->ram_mode = QB_VMM_RAM_CLONE;
		p->ram_fd = strcmp(mode, "clone-unsealed") == 0
		                ? memfd_create("qb-test-unsealed",
		                      MFD_CLOEXEC | MFD_ALLOW_SEALING)
		                : ram_fd;
		p->state_fd = open(file, O_RDONLY | O_CLOEXEC);
		if (p->ram_fd == -1 || p->state_fd == -1)
			return qb_seterr(err, QB_E_INTERNAL,
			    "clone RAM/state fd: %s", strerror(errno));
		return 0;
	}
	if (getenv("VMMON_TEST_TEMPLATE") != NULL) {
		p->ram_mode = QB_VMM_RAM_TEMPLATE;
		p->ram_fd = ram_fd = memfd_create(
		    "qb-test-ram", MFD_CLOEXEC | MFD_ALLOW_SEALING);
		p->state_fd = state_fd =
		    memfd_create("qb-test-state", MFD_CLOEXEC);
		if (ram_fd == -1 || state_fd == -1)
			fatal("memfd_create");
	}
	return 0;
}

/* A vmmon (vargv) and its client, with a new guest channel. */
static int
spawn(char *const vargv[], struct evloop *loop, const struct vmmon_events *ev,
    int *chan_peer)
{
	int sp[2], ch[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) == -1 ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ch) == -1)
		return -1;
	if ((vmmon_pid = proc_spawn(
	         vargv[0], vargv, sp[1], PROC_SPAWN_IMSG_FD)) == -1)
		return -1;
	close(sp[1]);
	chan_fd = ch[0];
	*chan_peer = ch[1];
	if ((client = vmmon_client_new(loop, sp[0], ev)) == NULL)
		return -1;
	return sp[0];
}

/* After SAVE: seal the RAM as the holder does; copy the state to file. */
static void
after_save(const struct qb_vmm_save_res *res, const char *file)
{
	char buf[65536];
	const char *seals = "OK";
	ssize_t n;
	off_t off = 0;
	int out;

	if (fcntl(ram_fd, F_ADD_SEALS,
	        F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) == -1)
		seals = strerror(errno);
	if (file[0] != '\0' &&
	    (out = open(
	         file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) != -1) {
		while ((n = pread(state_fd, buf, sizeof(buf), off)) > 0) {
			if (write(out, buf, (size_t)n) != n)
				break;
			off += n;
		}
		close(out);
	}
	printf("saved state=%llu ram=%llu seals=%s\n",
	    (unsigned long long)res->state_bytes,
	    (unsigned long long)res->ram_bytes, seals);
}

static void
on_exit_evt(void *arg, const struct qb_vmm_exit_evt *ev)
{
	(void)arg;
	printf("event exit pid=%d status=%d signal=%d reason=%u detail=%s\n",
	    ev->pid, ev->exit_status, ev->signal, ev->reason, ev->detail);
	fflush(stdout);
}

static void
on_guest_evt(void *arg, const struct qb_vmm_guest_evt *ev)
{
	(void)arg;
	printf("event guest kind=%u detail=%s\n", ev->kind, ev->detail);
	fflush(stdout);
}

static void
on_lost(void *arg)
{
	(void)arg;
	printf("event lost\n");
	fflush(stdout);
}

/* A line from the guest channel, within timeout_ms. */
static int
chan_line(char *buf, size_t len, int timeout_ms)
{
	size_t n = 0;
	struct pollfd p = {chan_fd, POLLIN, 0};

	while (n + 1 < len) {
		if (poll(&p, 1, timeout_ms) != 1)
			return -1;
		if (read(chan_fd, buf + n, 1) != 1)
			return -1;
		if (buf[n] == '\n') {
			buf[n] = '\0';
			return 0;
		}
		n++;
	}
	return -1;
}

int
main(int argc, char *argv[])
{
	struct vmmon_events ev = {on_exit_evt, on_guest_evt, on_lost, NULL};
	struct vm_start_params p;
	struct evloop *loop;
	struct qb_error err;
	char line[256], arg[64], arg2[64], arg3[64], arg4[256], buf[256];
	char *vargv[16];
	int sp0, ch1, kernel, initrd, logfd, i, n;

	if (argc < 5) {
		fprintf(stderr, "usage: vmmon-driver VMMON KERNEL INITRD LOG "
		                "[vmmon args]\n");
		return 2;
	}
	log_init("vmmon-driver", 0);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if ((kernel = open(argv[2], O_RDONLY | O_CLOEXEC)) == -1 ||
	    (initrd = open(argv[3], O_RDONLY | O_CLOEXEC)) == -1 ||
	    (logfd = open(argv[4], O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
	         0640)) == -1)
		fatal("open");
	vargv[0] = argv[1];
	for (i = 5, n = 1; i < argc && n < 15; i++)
		vargv[n++] = argv[i];
	vargv[n] = NULL;
	loop = evloop_new();
	if ((sp0 = spawn(vargv, loop, &ev, &ch1)) == -1)
		fatal("spawn vmmon");

	while (fgets(line, sizeof(line), stdin) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		memset(&err, 0, sizeof(err));
		arg[0] = '\0';
		sscanf(line, "%*s %63s", arg);
		arg2[0] = arg3[0] = arg4[0] = '\0';
		sscanf(line, "%*s %*s %63s %63s %255s", arg2, arg3, arg4);
		if (strncmp(line, "start", 5) == 0) {
			struct qb_vmm_start_res res;

			memset(&p, 0, sizeof(p));
			p.id = getenv("VMMON_TEST_ID") ? getenv("VMMON_TEST_ID")
			                               : "vmmon-test";
			p.boot_cpus = 1;
			p.max_cpus = 1;
			p.memory_mb = 256;
			p.machine = QB_VMM_MACHINE_MICROVM;
			if (strcmp(arg, "q35") == 0) {
				p.machine = QB_VMM_MACHINE_Q35;
				p.max_cpus = 2;
				p.memory_slots = 2;
				p.max_memory_mb = 1024;
			}
			p.accel = QB_VMM_ACCEL_AUTO;
			p.transport = QB_VMM_TRANSPORT_VIRTIO_SERIAL;
			p.kernel_fd = kernel;
			p.initrd_fd = initrd;
			p.channel_fd = ch1;
			p.console_log_fd = logfd;
			p.console_max_bytes = strtoull(arg2, NULL, 10);
			p.tap_fd = -1;
			p.vhost_vsock_fd = -1;
			p.hotplug_disks = getenv("VMMON_TEST_SCSI") != NULL;
			if (ram_mode_fds(&p, arg3, arg4, &err) == -1)
				goto error;
			if (getenv("VMMON_TEST_DISK") != NULL) {
				p.disks[0].fd = open(getenv("VMMON_TEST_DISK"),
				    O_RDONLY | O_CLOEXEC);
				p.disks[0].readonly = true;
				p.disks[0].serial = "qb-test-disk";
				p.ndisks = p.disks[0].fd == -1 ? 0 : 1;
			}
			if (getenv("VMMON_TEST_TAP") != NULL) {
				static const uint8_t mac[6] = {
				    2, 0, 0, 0, 0, 1};
				struct ifreq ifr;

				memset(&ifr, 0, sizeof(ifr));
				ifr.ifr_flags =
				    IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
				snprintf(ifr.ifr_name, sizeof(ifr.ifr_name),
				    "qbvt%%d");
				p.tap_fd =
				    open("/dev/net/tun", O_RDWR | O_CLOEXEC);
				if (p.tap_fd != -1 &&
				    ioctl(p.tap_fd, TUNSETIFF, &ifr) == -1) {
					close(p.tap_fd);
					p.tap_fd = -1;
				}
				memcpy(p.mac, mac, sizeof(mac));
			}
			i = vmmon_vm_start(client, &p, &res, &err);
			if (p.ram_mode == QB_VMM_RAM_CLONE) {
				close(p.state_fd);
				if (p.ram_fd != ram_fd)
					close(p.ram_fd);
			}
			if (i == -1)
				goto error;
			/* vmmon and QEMU hold their own copies now. */
			if (p.ndisks > 0)
				close(p.disks[0].fd);
			if (p.tap_fd != -1)
				close(p.tap_fd);
			qemu_pid = res.pid;
			printf("started pid=%d machine=%u accel=%u\n", res.pid,
			    res.machine, res.accel);
		} else if (strcmp(line, "ready") == 0) {
			if (chan_line(buf, sizeof(buf), 120000) == -1 ||
			    strncmp(buf, "READY ", 6) != 0) {
				snprintf(
				    err.msg, sizeof(err.msg), "no READY line");
				goto error;
			}
			printf("ready cpus=%s\n", buf + 6);
		} else if (strcmp(line, "guest_cpus") == 0) {
			if (write(chan_fd, "cpus\n", 5) != 5 ||
			    chan_line(buf, sizeof(buf), 120000) == -1 ||
			    strncmp(buf, "CPUS ", 5) != 0) {
				snprintf(
				    err.msg, sizeof(err.msg), "no CPUS line");
				goto error;
			}
			printf("guest cpus=%s\n", buf + 5);
		} else if (strcmp(line, "guest_disk") == 0 ||
		           strcmp(line, "guest_net") == 0) {
			bool disk = line[6] == 'd';

			if (write(chan_fd, disk ? "disk\n" : "net\n",
			        disk ? 5 : 4) < 0 ||
			    chan_line(buf, sizeof(buf), 60000) == -1) {
				snprintf(err.msg, sizeof(err.msg), "no answer");
				goto error;
			}
			printf("guest %s=%s\n", disk ? "disk" : "mac",
			    buf + (disk ? 5 : 4));
		} else if (strncmp(line, "env ", 4) == 0) {
			char *eq = strchr(line + 4, '=');

			if (eq == NULL) {
				snprintf(err.msg, sizeof(err.msg), "env: no =");
				goto error;
			}
			*eq = '\0';
			if (eq[1] == '\0')
				unsetenv(line + 4);
			else
				setenv(line + 4, eq + 1, 1);
			printf("env ok\n");
		} else if (strcmp(line, "ramsum") == 0) {
			printf("ramsum %llx\n", ram_sum(ram_fd));
		} else if (strcmp(line, "respawn") == 0) {
			int st;

			if (client != NULL)
				vmmon_client_free(client);
			client = NULL;
			waitpid(vmmon_pid, &st, 0);
			close(chan_fd);
			close(ch1);
			if ((sp0 = spawn(vargv, loop, &ev, &ch1)) == -1) {
				qb_seterr(&err, QB_E_INTERNAL, "respawn: %s",
				    strerror(errno));
				goto error;
			}
			printf("respawned vmmon=%d\n", (int)vmmon_pid);
		} else if (strcmp(line, "status") == 0) {
			struct qb_vmm_status_res res;

			if (vmmon_vm_status(client, &res, &err) == -1)
				goto error;
			printf("status running=%u state=%s\n", res.running,
			    res.status);
		} else if (strcmp(line, "pause") == 0) {
			if (vmmon_vm_pause(client, &err) == -1)
				goto error;
			printf("ok\n");
		} else if (strcmp(line, "resume") == 0) {
			if (vmmon_vm_resume(client, &err) == -1)
				goto error;
			printf("ok\n");
		} else if (strcmp(line, "cpu_add") == 0 ||
		           strcmp(line, "cpu_del") == 0 ||
		           strcmp(line, "cpu_query") == 0) {
			struct qb_vmm_cpu_res res;
			int rc;

			if (line[4] == 'a')
				rc = vmmon_cpu_add(client, &res, &err);
			else if (line[4] == 'd')
				rc = vmmon_cpu_del(client, &res, &err);
			else
				rc = vmmon_cpu_query(client, &res, &err);
			if (rc == -1)
				goto error;
			printf("cpu present=%u max=%u dev=%s\n", res.present,
			    res.max, res.dev_id);
		} else if (strncmp(line, "mem_", 4) == 0) {
			struct qb_vmm_mem_res res;

			int rc;

			if (line[4] == 'a')
				rc = vmmon_mem_add(client,
				    strtoull(arg, NULL, 10), &res, &err);
			else if (line[4] == 'd')
				rc = vmmon_mem_del(client, &res, &err);
			else
				rc = vmmon_mem_query(client, &res, &err);
			if (rc == -1)
				goto error;
			printf("mem base=%llu plugged=%llu\n",
			    (unsigned long long)res.base_bytes,
			    (unsigned long long)res.plugged_bytes);
		} else if (strncmp(line, "disk_", 5) == 0) {
			struct qb_vmm_disk_res res;
			struct vm_disk_param d = {.fd = -1};
			char serial[64] = "", file[512] = "";
			int rc;

			if (line[5] == 'a') {
				sscanf(line, "%*s %*s %*s %63s %511s", serial,
				    file);
				d.readonly = strncmp(arg2, "ro", 2) == 0;
				d.serial = serial;
				d.fd = open(
				    file, (strcmp(arg2, "ro") == 0 ? O_RDONLY
				                                   : O_RDWR) |
				              O_CLOEXEC);
				if (d.fd == -1) {
					qb_seterr(&err, QB_E_INTERNAL,
					    "open %s: %s", file,
					    strerror(errno));
					goto error;
				}
				rc = vmmon_disk_add(client,
				    (uint32_t)strtoul(arg, NULL, 10), &d, &res,
				    &err);
				close(d.fd);
			} else
				rc = vmmon_disk_del(client,
				    (uint32_t)strtoul(arg, NULL, 10), &res,
				    &err);
			if (rc == -1)
				goto error;
			printf("disk lun=%u dev=%s\n", res.lun, res.dev_id);
		} else if (strncmp(line, "save", 4) == 0) {
			struct qb_vmm_save_res res;

			if (vmmon_vm_save(client, &res, &err) == -1)
				goto error;
			after_save(&res, arg);
		} else if (strncmp(line, "shutdown", 8) == 0) {
			if (vmmon_vm_shutdown(
			        client, strtoull(arg, NULL, 10), &err) == -1)
				goto error;
			printf("shutdown ok\n");
		} else if (strcmp(line, "pids") == 0) {
			printf("pids vmmon=%d qemu=%d\n", (int)vmmon_pid,
			    (int)qemu_pid);
		} else if (strcmp(line, "close") == 0) {
			vmmon_client_free(client);
			client = NULL;
			printf("closed\n");
		} else if (strcmp(line, "wait_rss") == 0) {
			char path[64], l2[128];
			FILE *f;
			long hwm = -1;

			/* Let vmmon handle what its QEMU sent, then its peak.
			 */
			evloop_run_once(loop, 1000);
			snprintf(path, sizeof(path), "/proc/%d/status",
			    (int)vmmon_pid);
			if ((f = fopen(path, "r")) != NULL) {
				while (fgets(l2, sizeof(l2), f) != NULL)
					if (sscanf(l2, "VmHWM: %ld", &hwm) == 1)
						break;
				fclose(f);
			}
			printf("rss vmmon=%ld\n", hwm);
		} else if (strncmp(line, "raw ", 4) == 0) {
			static char zeros[MAX_IMSGSIZE];
			struct imsgbuf raw;
			int fd = -1;

			imsg_init(&raw, sp0);
			if (strstr(line, " fd") != NULL)
				fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
			if (imsg_compose(&raw, (uint32_t)strtoul(arg, NULL, 10),
			        77, 0, fd, zeros,
			        strcmp(arg2, "start") == 0
			            ? sizeof(struct qb_vmm_start_req)
			            : strtoul(arg2, NULL, 10)) == -1 ||
			    imsg_flush(&raw) == -1) {
				printf("error raw: %s\n", strerror(errno));
				continue;
			}
			printf("raw sent\n");
		} else if (strcmp(line, "wait_vmmon") == 0) {
			int st;

			waitpid(vmmon_pid, &st, 0);
			printf("vmmon exited status=%d\n",
			    WIFEXITED(st) ? WEXITSTATUS(st) : -1);
		} else {
			printf("error unknown command\n");
		}
		continue;
	error:
		printf("error %s\n", err.msg);
	}
	vmmon_client_free(client);
	evloop_free(loop);
	return 0;
}
