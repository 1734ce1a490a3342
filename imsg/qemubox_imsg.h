/*
 * The one list of every imsg exchanged between the shim and its helpers
 * (qemubox-privnet, qemubox-vmmon), with the payload struct of each.
 *
 * Families: *_REQ flows shim -> helper, *_RES answers a request (or
 * IMSG_ERROR), *_EVT is unsolicited helper -> shim. Payloads are fixed-size
 * structs copied in host byte order (both ends are the same host); strings
 * are fixed char arrays that the receiver NUL-terminates and validates.
 * A helper that receives a type not listed for it, or a payload of the wrong
 * size (imsg_get_data demands exact size), kills the connection: see "A bad
 * peer" below for the whole policy.
 *
 * Ownership: the privnet section belongs to privnet/, the vmmon section to
 * vmmon/; add new types at the end of a family, never renumber.
 */
#ifndef QEMUBOX_IMSG_H
#define QEMUBOX_IMSG_H

#include <stddef.h>
#include <stdint.h>

/* An id buffer: lib/qb_id.h's QB_ID_LEN_MAX (containerd's 76) + NUL. */
#define QB_ID_MAX     77
#define QB_ERRMSG_MAX 1024

enum qb_imsg_type {
	IMSG_NONE = 0,

	/* Any helper -> shim: the request named in `type` failed. */
	IMSG_ERROR = 1,

	/* shim <-> privnet: 100..199 */
	IMSG_NET_FIRST = 100,
	IMSG_NET_SETUP_REQ = 101,    /* qb_net_setup_req */
	IMSG_NET_SETUP_RES = 102,    /* qb_net_result + the TAP fd */
	IMSG_NET_TEARDOWN_REQ = 103, /* qb_net_id_req */
	IMSG_NET_TEARDOWN_RES = 104, /* qb_net_id_req (echo) */
	IMSG_NET_STATUS_REQ = 105,   /* qb_net_id_req */
	IMSG_NET_STATUS_RES = 106,   /* qb_net_status */
	/*
	 * NET_SETUP in two steps, so QEMU can boot while the CNI plugins
	 * run (own netns only): TAP_REQ creates the netns and the TAP and
	 * answers at once; WIRE_REQ (same sandbox, next) runs the CNI chain,
	 * gives the veth the TAP's MAC and joins the two.
	 */
	IMSG_NET_TAP_REQ = 107,  /* qb_net_setup_req, netns_path "" */
	IMSG_NET_TAP_RES = 108,  /* qb_net_tap + the TAP fd */
	IMSG_NET_WIRE_REQ = 109, /* qb_net_id_req */
	IMSG_NET_WIRE_RES = 110, /* qb_net_result (no fd) */

	/* shim <-> vmmon: 200..299 */
	IMSG_VMM_FIRST = 200,
	/*
	 * vmmon section (owner: vmmon/). The imsg peerid of a *_RES (or of
	 * the IMSG_ERROR answering it) is the peerid of its request, so the
	 * shim can keep several requests in flight.
	 */
	IMSG_VMM_FD_REQ = 201,     /* qb_vmm_fd + an fd; staged for START */
	IMSG_VMM_START_REQ = 202,  /* qb_vmm_start_req -> START_RES */
	IMSG_VMM_START_RES = 203,  /* qb_vmm_start_res */
	IMSG_VMM_STATUS_REQ = 204, /* empty -> STATUS_RES */
	IMSG_VMM_STATUS_RES = 205, /* qb_vmm_status_res */
	IMSG_VMM_PAUSE_REQ = 206,  /* empty -> PAUSE_RES (empty) */
	IMSG_VMM_PAUSE_RES = 207,
	IMSG_VMM_RESUME_REQ = 208, /* empty -> RESUME_RES (empty) */
	IMSG_VMM_RESUME_RES = 209,
	/* ACPI powerdown -> quit -> SIGKILL; answered once QEMU is reaped. */
	IMSG_VMM_SHUTDOWN_REQ = 210,  /* qb_vmm_shutdown_req */
	IMSG_VMM_SHUTDOWN_RES = 211,  /* empty; EXIT_EVT was sent before */
	IMSG_VMM_CPU_ADD_REQ = 212,   /* empty -> CPU_RES */
	IMSG_VMM_CPU_DEL_REQ = 213,   /* empty (last hot-added) -> CPU_RES */
	IMSG_VMM_CPU_QUERY_REQ = 214, /* empty -> CPU_RES */
	IMSG_VMM_CPU_RES = 215,       /* qb_vmm_cpu_res */
	IMSG_VMM_MEM_ADD_REQ = 216,   /* qb_vmm_mem_add_req -> MEM_RES */
	IMSG_VMM_MEM_DEL_REQ = 217,   /* empty (last DIMM) -> MEM_RES */
	IMSG_VMM_MEM_QUERY_REQ = 218, /* empty -> MEM_RES */
	IMSG_VMM_MEM_RES = 219,       /* qb_vmm_mem_res */
	/* Pods: a later container's disks hot-added as SCSI LUNs. */
	IMSG_VMM_DISK_ADD_REQ =
	    220, /* qb_vmm_disk_add_req + the fd -> DISK_RES */
	IMSG_VMM_DISK_DEL_REQ = 221, /* qb_vmm_disk_del_req -> DISK_RES */
	IMSG_VMM_DISK_RES = 222,     /* qb_vmm_disk_res */
	/*
	 * Cloning (docs/PERFORMANCE.md): a template VM (ram_mode TEMPLATE)
	 * saves its device state into the staged STATE fd (x-ignore-shared:
	 * RAM stays in the RAM memfd), then QEMU quits and is reaped.
	 * Refused unless the VM runs in template mode.
	 */
	IMSG_VMM_SAVE_REQ = 223,  /* empty -> SAVE_RES */
	IMSG_VMM_SAVE_RES = 224,  /* qb_vmm_save_res; EXIT_EVT came before */
	IMSG_VMM_EXIT_EVT = 240,  /* qb_vmm_exit_evt, once per VM */
	IMSG_VMM_GUEST_EVT = 241, /* qb_vmm_guest_evt (informational) */
	IMSG_VMM_LAST = 299,

	/*
	 * shim <-> qemubox-spawner: 600..649 (spawner/, docs/SECURITY.md).
	 * On the spawner's main socket the only message is SPAWN_CHANNEL:
	 * one fd, a socket for a new per-request channel (so that any number
	 * of the shim's forked builders can ask at once). On that channel:
	 * one request, one answer, then both ends close.
	 */
	IMSG_SPAWN_FIRST = 600,
	IMSG_SPAWN_CHANNEL = 601,   /* empty + the channel's socket */
	IMSG_LAYER_BUILD_REQ = 611, /* qb_layer_build_req + output file fd */
	IMSG_LAYER_BUILD_RES = 612, /* qb_layer_build_res */
	IMSG_SPAWN_LAST = 649,

	/*
	 * shim <-> qemubox-fsd: 700..749 (fsd/, docs/STORAGE.md "Volumes").
	 * VOLUME_REQs stage the sources of one virtiofsd, in order; START_REQ
	 * starts it and is answered with QEMU's end of its vhost-user socket.
	 */
	IMSG_FS_FIRST = 700,
	IMSG_FS_VOLUME_REQ =
	    701,                 /* qb_fs_volume; staged for START, no answer */
	IMSG_FS_START_REQ = 702, /* qb_fs_start_req -> START_RES */
	IMSG_FS_START_RES = 703, /* qb_fs_start_res + the vhost-user socket */
	IMSG_FS_ADD_REQ = 704,   /* qb_fs_add_req -> ADD_RES */
	IMSG_FS_ADD_RES = 705,   /* qb_fs_slot */
	IMSG_FS_DEL_REQ = 706,   /* qb_fs_slot -> DEL_RES */
	IMSG_FS_DEL_RES = 707,   /* qb_fs_slot */
	IMSG_FS_LAST = 749,

	/*
	 * shim <-> qemubox-tmpl, the template holder: 800..849 (tmpl/,
	 * docs/PERFORMANCE.md "Pre-booted VMs and cloning"). Over the
	 * holder's unix socket (peers of uid 0 only): GET_REQ is answered by
	 * RAM_RES + the sealed RAM memfd, then STATE_RES + a read-only fd of
	 * the saved device state; or by IMSG_ERROR, errnum ENOENT, when no
	 * template matching the request is ready (the caller cold-boots).
	 */
	IMSG_TMPL_FIRST = 800,
	IMSG_TMPL_GET_REQ = 801,   /* qb_tmpl_get_req */
	IMSG_TMPL_RAM_RES = 802,   /* qb_tmpl_res + the sealed RAM memfd */
	IMSG_TMPL_STATE_RES = 803, /* empty + the state fd (read-only) */
	IMSG_TMPL_LAST = 849,
};

/*
 * A bad peer: one policy for every helper (privnet, vmmon).
 *
 * Each helper validates a request whole before acting on it. What the shim
 * could have known is a protocol violation: a type the helper does not
 * serve, a payload of the wrong size, an fd where none belongs (or none
 * where one must come), an unterminated or ill-formed string, a value out
 * of its documented range, a request out of order (vmmon's permit table).
 * A violation is never answered: the helper logs it, undoes what must not
 * outlive it (vmmon: kills and reaps QEMU) and exits, which closes the
 * connection; the shim loses that helper and with it the sandbox
 * (qb_imsg_kill_peer).
 *
 * Only a well-formed request that fails for a reason the shim cannot see
 * (the VM exited or is stopping, QEMU refused, CNI failed, a host fact)
 * is answered, with IMSG_ERROR (qb_imsg_compose_error).
 */
struct imsgbuf;

/* The shape of one request a helper serves (its table of these). */
struct qb_imsg_shape {
	uint32_t type;
	uint32_t len; /* exact payload size */
	uint32_t fd;  /* 1: exactly one fd rides with it, 0: none */
};

/*
 * Checks a request's type, size and fd against a helper's table: the
 * shape, or NULL and *why for a violation.
 */
const struct qb_imsg_shape *qb_imsg_shape_check(const struct qb_imsg_shape *tab,
    unsigned n, uint32_t type, size_t len, int has_fd, const char **why);

/*
 * Ends the connection with a peer that broke the protocol: logs who, why
 * and the type, runs undo (may be NULL) and exits 1. Never answers.
 */
void qb_imsg_kill_peer(const char *who, const char *why, uint32_t type,
    void (*undo)(void)) __attribute__((noreturn));

/*
 * The main loop of a helper that serves one peer (privnet, fsd, spawner):
 * waits for the socket (and at most tick_ms, when tick is not NULL, so the
 * helper can reap its children), reads, and calls dispatch for what arrived.
 * Returns 0 when the peer closed the connection, -1 when dispatch returned
 * -1; a read error is fatal.
 */
int qb_imsg_serve(struct imsgbuf *ibuf, int (*dispatch)(struct imsgbuf *),
    int tick_ms, void (*tick)(void));

/* Answers request req_type (peerid) with IMSG_ERROR; logs it. 0 / -1. */
int qb_imsg_compose_error(struct imsgbuf *ibuf, uint32_t peerid,
    uint32_t req_type, int errnum, int code, const char *msg);

/* IMSG_ERROR payload. */
struct qb_imsg_error {
	uint32_t req_type; /* the request type that failed */
	int32_t errnum;    /* errno-style cause, 0 if none */
	int32_t code;      /* gRPC code (lib/error.h) */
	char msg[QB_ERRMSG_MAX];
};

/*
 * privnet section (owner: privnet/). Requests carry the sandbox id; privnet
 * answers each request in order, with the request's peerid, by its _RES type
 * or by IMSG_ERROR. Addresses are binary (network order) with a family
 * (AF_INET / AF_INET6) so nobody re-parses text.
 */
#define QB_NETNS_PATH_MAX 256
#define QB_IFNAME_MAX     16 /* IFNAMSIZ, NUL included */
#define QB_NET_MAX_IPS    4
#define QB_NET_MAX_ROUTES 16
#define QB_NET_MAX_DNS    4
#define QB_NET_MAX_SEARCH 4
#define QB_DNS_NAME_MAX   254

/* IMSG_NET_SETUP_REQ. netns_path "" = own netns (privnet creates
 * /run/netns/qemubox-<id> and runs CNI); otherwise CRI mode: an existing,
 * already wired netns (no CNI run). ifname "" = "eth0": the CNI_IFNAME
 * (own netns) or the veth to attach to (CRI; "" = find it). */
struct qb_net_setup_req {
	char sandbox_id[QB_ID_MAX];
	char netns_path[QB_NETNS_PATH_MAX];
	char ifname[QB_IFNAME_MAX];
};

/* IMSG_NET_TEARDOWN_REQ, IMSG_NET_TEARDOWN_RES, IMSG_NET_STATUS_REQ. */
struct qb_net_id_req {
	char sandbox_id[QB_ID_MAX];
};

struct qb_net_addr {
	uint8_t family; /* 0 = unset, AF_INET, AF_INET6 */
	uint8_t prefixlen;
	uint8_t pad[2];
	uint8_t addr[16];
};

struct qb_net_route {
	struct qb_net_addr dst; /* dst.prefixlen 0 = default route */
	struct qb_net_addr gw;  /* family 0 = on-link */
};

/* IMSG_NET_SETUP_RES payload (the TAP fd rides with it). What the guest
 * NIC needs: the veth's MAC (the guest uses it), MTU, addresses, gateway,
 * routes, DNS. */
struct qb_net_result {
	char tap_name[QB_IFNAME_MAX];  /* TAP in the sandbox netns */
	char veth_name[QB_IFNAME_MAX]; /* "eth0" */
	char netns_path[QB_NETNS_PATH_MAX];
	uint8_t mac[6];
	uint8_t pad[2];
	uint32_t mtu;
	uint32_t n_ips;
	struct qb_net_addr ips[QB_NET_MAX_IPS];
	struct qb_net_addr
	    gateways[QB_NET_MAX_IPS]; /* per ips[i]; family 0 = none */
	uint32_t n_routes;
	struct qb_net_route routes[QB_NET_MAX_ROUTES];
	uint32_t n_dns;
	struct qb_net_addr dns[QB_NET_MAX_DNS];
	char dns_domain[QB_DNS_NAME_MAX];
	uint32_t n_search;
	char dns_search[QB_NET_MAX_SEARCH][QB_DNS_NAME_MAX];
};

/* IMSG_NET_TAP_RES payload (the TAP fd rides with it): the guest NIC
 * must use mac; the veth gets it too once WIRE_REQ ran the plugins. */
struct qb_net_tap {
	char tap_name[QB_IFNAME_MAX];
	char netns_path[QB_NETNS_PATH_MAX];
	uint8_t mac[6];
	uint8_t pad[2];
};

/* IMSG_NET_STATUS_RES. */
struct qb_net_status {
	char sandbox_id[QB_ID_MAX];
	uint32_t state; /* QB_NET_STATE_* */
	char netns_path[QB_NETNS_PATH_MAX];
	char network[QB_DNS_NAME_MAX]; /* CNI network name, "" in CRI mode */
};
#define QB_NET_STATE_NONE   0 /* no record */
#define QB_NET_STATE_ADDING 1 /* setup started, not finished (crash?) */
#define QB_NET_STATE_READY  2

/* ---- vmmon section (owner: vmmon/) ---- */

#define QB_VMM_MAX_DISKS   16
#define QB_VMM_SERIAL_MAX  21 /* virtio-blk serial: 20 bytes + NUL */
#define QB_VMM_CMDLINE_MAX 1024
#define QB_VMM_DEVID_MAX   32
#define QB_VMM_DETAIL_MAX  128

/* What an fd sent with IMSG_VMM_FD_REQ is for. */
enum qb_vmm_fd_role {
	QB_VMM_FD_KERNEL = 1, /* read-only, the PVH ELF kernel (or a bzImage) */
	QB_VMM_FD_INITRD = 2, /* read-only */
	QB_VMM_FD_DISK = 3,   /* index = disk number; O_RDONLY iff readonly */
	QB_VMM_FD_TAP = 4,    /* IFF_TAP|IFF_NO_PI|IFF_VNET_HDR */
	QB_VMM_FD_CHANNEL =
	    5, /* our end of the guest channel (virtio-serial) */
	QB_VMM_FD_CONSOLE_LOG = 6, /* console.log, O_WRONLY|O_APPEND */
	QB_VMM_FD_VHOST_VSOCK = 7, /* /dev/vhost-vsock, transport vsock only */
	QB_VMM_FD_VHOST_USER_FS =
	    8, /* connected vhost-user socket of the sandbox's virtiofsd */
	/* ram_mode TEMPLATE: unsealed, writable, QEMU sizes it; CLONE: the
	 * template's, sealed (W|SHRINK|GROW|SEAL), mapped private. */
	QB_VMM_FD_RAM = 9,
	/* TEMPLATE: writable, SAVE writes the device state into it; CLONE:
	 * the state to restore, read-only. */
	QB_VMM_FD_STATE = 10,
};

struct qb_vmm_fd {
	uint32_t role;  /* qb_vmm_fd_role */
	uint32_t index; /* disk number for QB_VMM_FD_DISK, else 0 */
};

enum qb_vmm_machine {
	QB_VMM_MACHINE_AUTO = 0,
	QB_VMM_MACHINE_MICROVM = 1,
	QB_VMM_MACHINE_Q35 = 2
};
enum qb_vmm_accel {
	QB_VMM_ACCEL_AUTO = 0,
	QB_VMM_ACCEL_KVM = 1,
	QB_VMM_ACCEL_TCG = 2
};
enum qb_vmm_transport {
	QB_VMM_TRANSPORT_VIRTIO_SERIAL = 1,
	QB_VMM_TRANSPORT_VSOCK = 2
};
/*
 * Where guest RAM lives. TEMPLATE and CLONE need a staged RAM fd and STATE
 * fd and refuse has_fs (vhost-user-fs cannot migrate) and CPU or memory
 * hotplug (max_cpus == boot_cpus, memory_slots == 0). Given the same
 * start request, their argv differ only in share=on/off and -incoming.
 * A CLONE's disks (hotplug_disks, non-empty serials) are not virtio-blk
 * boot disks (its device set is the template's): disk i is LUN i on the
 * SCSI bus, attached before the clone runs; DISK_DEL may remove it.
 */
enum qb_vmm_ram_mode {
	QB_VMM_RAM_ANON = 0,     /* QEMU's anonymous RAM (or has_fs memfd) */
	QB_VMM_RAM_TEMPLATE = 1, /* RAM in the RAM fd, shared; no reporting */
	QB_VMM_RAM_CLONE = 2,    /* RAM fd mapped private, -incoming defer */
};

struct qb_vmm_disk {
	uint32_t readonly;
	char serial[QB_VMM_SERIAL_MAX]; /* [A-Za-z0-9_.-], may be empty */
	uint8_t pad[3];
};

struct qb_vmm_start_req {
	char id[QB_ID_MAX];     /* container/sandbox id, for the QEMU -name */
	uint32_t boot_cpus;     /* 1..max_cpus */
	uint32_t max_cpus;      /* > boot_cpus needs machine q35 (or auto) */
	uint32_t memory_mb;     /* boot RAM */
	uint32_t max_memory_mb; /* > memory_mb needs memory_slots > 0 */
	uint32_t memory_slots;  /* DIMM slots for memory hotplug, 0 = none */
	uint32_t machine;       /* qb_vmm_machine; auto = q35 iff hotplug */
	uint32_t accel;     /* qb_vmm_accel; auto = kvm iff the probe passed */
	uint32_t transport; /* qb_vmm_transport */
	uint32_t guest_cid; /* vsock only, >= 3 */
	uint32_t has_tap;   /* a QB_VMM_FD_TAP fd was staged */
	uint8_t mac[6];     /* guest NIC MAC when has_tap */
	uint8_t pad[2];
	uint32_t ndisks; /* disks[0..ndisks-1], each with a staged fd */
	struct qb_vmm_disk disks[QB_VMM_MAX_DISKS];
	uint64_t console_max_bytes; /* cap on console.log; 0 = default 16 MiB */
	char cmdline[QB_VMM_CMDLINE_MAX]; /* appended to the kernel cmdline */
	uint32_t has_fs; /* a QB_VMM_FD_VHOST_USER_FS fd was staged: guest RAM
	                    becomes a shared memfd, a vhost-user-fs device
	                    with tag QB_VMM_FS_TAG */
	uint32_t hotplug_disks; /* 1: a virtio-scsi controller for DISK_ADD */
	uint32_t ram_mode;      /* qb_vmm_ram_mode */
	uint32_t ram_pad;
};
#define QB_VMM_FS_TAG "qemubox-fs"

struct qb_vmm_start_res {
	int32_t pid;      /* QEMU's pid */
	uint32_t machine; /* what was used, never AUTO */
	uint32_t accel;   /* what was used, never AUTO */
	uint32_t pad;
};

struct qb_vmm_status_res {
	uint32_t running;
	char status[32]; /* QMP RunState: running, paused, shutdown, ... */
};

struct qb_vmm_shutdown_req {
	uint64_t timeout_ms; /* per step; 0 = runtime.shutdown_timeout_ms */
};

struct qb_vmm_cpu_res {
	uint32_t present;              /* vCPUs plugged now */
	uint32_t max;                  /* maxcpus */
	char dev_id[QB_VMM_DEVID_MAX]; /* the device added/removed, or "" */
};

struct qb_vmm_mem_add_req {
	uint64_t size_mb; /* a multiple of 128 */
};

struct qb_vmm_mem_res {
	uint64_t base_bytes;    /* query-memory-size-summary base-memory */
	uint64_t plugged_bytes; /* plugged-memory */
	char dev_id[QB_VMM_DEVID_MAX];
};

/*
 * Hot-added disks are scsi-hd LUNs on the VM's virtio-scsi controller
 * (START with hotplug_disks = 1); the shim picks a free LUN and names the
 * disk by its serial, which the guest looks for (VPD page 0x80).
 */
#define QB_VMM_MAX_LUNS 64

struct qb_vmm_disk_add_req {
	uint32_t lun; /* < QB_VMM_MAX_LUNS, not in use */
	uint32_t pad;
	struct qb_vmm_disk disk; /* the fd is O_RDONLY iff disk.readonly */
};

struct qb_vmm_disk_del_req {
	uint32_t lun; /* a LUN that DISK_ADD filled */
	uint32_t pad;
};

struct qb_vmm_disk_res {
	uint32_t lun;
	uint32_t pad;
	char dev_id[QB_VMM_DEVID_MAX];
};

/* IMSG_VMM_SAVE_RES: what the state fd and the RAM fd hold. */
struct qb_vmm_save_res {
	uint64_t state_bytes;
	uint64_t ram_bytes;
};

enum qb_vmm_exit_reason {
	QB_VMM_EXIT_UNKNOWN = 0,
	QB_VMM_EXIT_GUEST_SHUTDOWN = 1, /* the guest powered off */
	QB_VMM_EXIT_GUEST_RESET = 2,    /* reboot (QEMU runs -no-reboot) */
	QB_VMM_EXIT_GUEST_PANIC = 3,
	QB_VMM_EXIT_HOST_REQUEST =
	    4,                  /* SHUTDOWN_REQ, QMP quit, or vmmon ending */
	QB_VMM_EXIT_KILLED = 5, /* SIGKILL after the shutdown steps timed out */
	QB_VMM_EXIT_CRASHED = 6,      /* died without a SHUTDOWN event */
	QB_VMM_EXIT_START_FAILED = 7, /* exited before the QMP handshake */
};

struct qb_vmm_exit_evt {
	int32_t pid;
	int32_t exit_status;            /* exit code, -1 if signalled */
	int32_t signal;                 /* terminating signal, 0 if exited */
	uint32_t reason;                /* qb_vmm_exit_reason */
	char detail[QB_VMM_DETAIL_MAX]; /* e.g. the QMP SHUTDOWN reason */
};

enum qb_vmm_guest_evt_kind {
	QB_VMM_GUEST_EVT_POWERDOWN = 1,
	QB_VMM_GUEST_EVT_RESET = 2,
	QB_VMM_GUEST_EVT_PANICKED = 3,
	QB_VMM_GUEST_EVT_STOP = 4,
	QB_VMM_GUEST_EVT_RESUME = 5,
	QB_VMM_GUEST_EVT_DEVICE_DELETED = 6,
	QB_VMM_GUEST_EVT_UNPLUG_ERROR = 7,
	QB_VMM_GUEST_EVT_CONSOLE_TRUNCATED = 8,
};

struct qb_vmm_guest_evt {
	uint32_t kind; /* qb_vmm_guest_evt_kind */
	char detail[QB_VMM_DETAIL_MAX];
};

/* ---- qemubox-tmpl section (owner: tmpl/) ---- */

/* A file's identity: a kernel or initrd the template booted from. */
struct qb_tmpl_file_id {
	uint64_t dev;
	uint64_t ino;
	int64_t size;
	int64_t mtime_sec;
	int64_t mtime_nsec;
};
/* Fills *id from fd's fstat (shim and holder alike). 0 / -1 with errno. */
int qb_tmpl_file_id(int fd, struct qb_tmpl_file_id *id);

/*
 * IMSG_TMPL_GET_REQ: what the caller would boot. A template is handed out
 * only when every field equals what it booted with; cmdline is the extra
 * kernel command line (qb_vmm_start_req.cmdline) the caller would pass.
 */
struct qb_tmpl_get_req {
	uint32_t memory_mb;
	uint32_t boot_cpus;
	uint32_t machine;   /* qb_vmm_machine */
	uint32_t transport; /* qb_vmm_transport */
	struct qb_tmpl_file_id kernel;
	struct qb_tmpl_file_id initrd;
	char cmdline[QB_VMM_CMDLINE_MAX];
};

/*
 * IMSG_TMPL_RAM_RES: the template's START request as it booted (id
 * blanked, ram_mode TEMPLATE: a clone sets CLONE and its own id), the
 * sizes of the RAM memfd and the state, and the template's generation
 * (a new template, after the last one died or the config changed, gets a
 * new one).
 */
struct qb_tmpl_res {
	struct qb_vmm_start_req start;
	uint64_t ram_bytes;
	uint64_t state_bytes;
	uint64_t generation;
};

/* ---- shim <-> qemubox-spawner ---- */

#define QB_LAYER_DIR_MAX 4096 /* PATH_MAX, NUL included */
#define QB_LAYER_MSG_MAX 512  /* the start of mkfs.erofs's stderr */

/*
 * IMSG_LAYER_BUILD_REQ: build an EROFS image of `dir` into the regular,
 * empty, writable file whose fd rides along. compression: "none", "lz4"
 * or "lz4hc".
 */
struct qb_layer_build_req {
	char dir[QB_LAYER_DIR_MAX];
	char compression[16];
};

/* IMSG_LAYER_BUILD_RES. */
#define QB_LAYER_OK      0 /* the image is complete */
#define QB_LAYER_FAILED  1 /* mkfs.erofs failed: wstatus, msg */
#define QB_LAYER_REFUSED 2 /* the request was invalid: msg says why */
struct qb_layer_build_res {
	int32_t result;      /* QB_LAYER_* */
	int32_t wstatus;     /* the builder's wait status (FAILED) */
	uint32_t privileged; /* built with CAP_DAC_READ_SEARCH+SYS_ADMIN */
	uint32_t pad;
	char msg[QB_LAYER_MSG_MAX];
};

/* ---- fsd section (owner: fsd/) ---- */

#define QB_FS_PATH_MAX    4096 /* PATH_MAX, NUL included */
#define QB_FS_MAX_VOLUMES 64

/*
 * IMSG_FS_VOLUME_REQ: volume `index` (0, 1, ... in order) of the next
 * START: an absolute host path, a directory or a regular file, served at
 * <index> in the share. readonly: 1 = the host mount is read-only.
 */
struct qb_fs_volume {
	uint32_t index;
	uint32_t readonly;
	char source[QB_FS_PATH_MAX];
};

/*
 * IMSG_FS_START_REQ: serve the nvolumes staged volumes for sandbox id.
 * spare = 1: the sandbox takes more volumes while it runs (a pod's later
 * containers, IMSG_FS_ADD_REQ) in the slots nvolumes..QB_FS_MAX_VOLUMES-1;
 * nvolumes may then be 0.
 */
struct qb_fs_start_req {
	char id[QB_ID_MAX];
	uint32_t nvolumes; /* 0..QB_FS_MAX_VOLUMES, = the staged count */
	uint32_t spare;    /* 0 or 1 */
};

/*
 * IMSG_FS_ADD_REQ: a volume joins the running share of sandbox id (started
 * with spare = 1) at vol.index, a free spare slot: a directory is served at
 * <index>, a regular file at <index>/QB_FS_FILE_NAME. Answered with the
 * slot.
 */
#define QB_FS_FILE_NAME "f"
struct qb_fs_add_req {
	char id[QB_ID_MAX];
	struct qb_fs_volume vol;
};

/* IMSG_FS_DEL_REQ: volume index leaves sandbox id's share; ADD/DEL_RES. */
struct qb_fs_slot {
	char id[QB_ID_MAX];
	uint32_t index;
};

/* IMSG_FS_START_RES (+ QEMU's end of the vhost-user socket). */
struct qb_fs_start_res {
	int32_t pid; /* virtiofsd's pid */
	uint32_t pad;
};

#endif
