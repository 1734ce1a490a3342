/*
 * VM operations of the guest API (guest/agent_int.h): Ping, OnlineCpus,
 * OnlineMemory, VmStats, ConfigureNetwork, SetIdentity, Shutdown.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <linux/random.h>
#include <sys/ioctl.h>

#include "guest/agent_int.h"
#include "guest/agent_vmstats.h"
#include "guest/net_config.h"
#include "lib/log.h"

int
h_ping(struct agent *a, const uint8_t *b, size_t n, ProtobufCMessage **out,
    struct qb_error *err)
{
	Qemubox__Guest__V1__PingRequest *req;
	Qemubox__Guest__V1__PingResponse *resp;
	struct timespec ts;

	(void)a;
	if ((req = qemubox__guest__v1__ping_request__unpack(NULL, n, b)) ==
	    NULL)
		return qb_seterr(err, QB_E_INVALID, "bad PingRequest");
	resp = malloc(sizeof(*resp));
	qemubox__guest__v1__ping_response__init(resp);
	resp->nonce = req->nonce;
	clock_gettime(CLOCK_BOOTTIME, &ts);
	resp->uptime_ms =
	    (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	qemubox__guest__v1__ping_request__free_unpacked(req, NULL);
	*out = &resp->base;
	return 0;
}

/* Write "1"/"online" to every offline CPU or memory block. */
static unsigned
online_all(
    const char *dir, const char *prefix, const char *file, const char *value)
{
	char path[PATH_MAX], cur[32];
	unsigned count = 0;
	int i, fd;
	ssize_t r;

	for (i = 0; i < 4096; i++) {
		snprintf(
		    path, sizeof(path), "%s/%s%d/%s", dir, prefix, i, file);
		if ((fd = open(path, O_RDWR | O_CLOEXEC)) == -1) {
			if (errno == ENOENT && i > 0 &&
			    strcmp(prefix, "cpu") == 0)
				break;
			continue;
		}
		r = read(fd, cur, sizeof(cur) - 1);
		cur[r > 0 ? r : 0] = '\0';
		if (strncmp(cur, "1", 1) != 0 &&
		    strncmp(cur, "online", 6) != 0 &&
		    pwrite(fd, value, strlen(value), 0) > 0)
			count++;
		close(fd);
	}
	return count;
}

int
h_online_cpus(struct agent *a, const uint8_t *b, size_t n,
    ProtobufCMessage **out, struct qb_error *err)
{
	Qemubox__Guest__V1__OnlineCpusResponse *resp;

	(void)a;
	(void)b;
	(void)n;
	(void)err;
	resp = malloc(sizeof(*resp));
	qemubox__guest__v1__online_cpus_response__init(resp);
	resp->online =
	    online_all("/sys/devices/system/cpu", "cpu", "online", "1");
	*out = &resp->base;
	return 0;
}

int
h_online_memory(struct agent *a, const uint8_t *b, size_t n,
    ProtobufCMessage **out, struct qb_error *err)
{
	Qemubox__Guest__V1__OnlineMemoryResponse *resp;

	(void)a;
	(void)b;
	(void)n;
	(void)err;
	resp = malloc(sizeof(*resp));
	qemubox__guest__v1__online_memory_response__init(resp);
	resp->onlined_blocks = online_all(
	    "/sys/devices/system/memory", "memory", "state", "online");
	*out = &resp->base;
	return 0;
}

/* The host sends the CNI result; guest/net_config.c applies it. */
int
h_configure_network(struct agent *a, const uint8_t *b, size_t n,
    ProtobufCMessage **out, struct qb_error *err)
{
	Qemubox__Guest__V1__ConfigureNetworkRequest *req;
	int rc;

	(void)a;
	(void)out;
	req = qemubox__guest__v1__configure_network_request__unpack(NULL, n, b);
	if (req == NULL)
		return qb_seterr(
		    err, QB_E_INVALID, "bad ConfigureNetworkRequest");
	rc = net_config_apply(req, err);
	qemubox__guest__v1__configure_network_request__free_unpacked(req, NULL);
	return rc;
}

/* The whole guest's usage, for the host's hotplug controller. */
int
h_vm_stats(struct agent *a, const uint8_t *b, size_t n, ProtobufCMessage **out,
    struct qb_error *err)
{
	Qemubox__Guest__V1__VmStatsResponse *resp;
	struct agent_vmstats vs;
	char cg[PATH_MAX];
	struct ctr *c;

	(void)b;
	(void)n;
	if (agent_vmstats_read("/proc", "/sys/devices/system/cpu", &vs) == -1)
		return qb_seterr(
		    err, QB_E_INTERNAL, "vm stats: %s", strerror(errno));
	for (c = a->ctrs; c != NULL; c = c->next)
		if (ctr_cgroup(c, cg, sizeof(cg)) == 0)
			agent_vmstats_add_throttled(cg, &vs);
	if ((resp = malloc(sizeof(*resp))) == NULL)
		return qb_seterr(err, QB_E_INTERNAL, "vm stats: out of memory");
	qemubox__guest__v1__vm_stats_response__init(resp);
	resp->cpu_busy_ticks = vs.cpu_busy_ticks;
	resp->cpu_total_ticks = vs.cpu_total_ticks;
	resp->cpus_online = vs.cpus_online;
	resp->mem_total_kb = vs.mem_total_kb;
	resp->mem_available_kb = vs.mem_available_kb;
	resp->throttled_usec = vs.throttled_usec;
	*out = &resp->base;
	return 0;
}

/* What SetIdentityRequest.seed may hold (bytes). */
#define SEED_MIN 32
#define SEED_MAX 256

/*
 * Credit the host's seed to the input pool and make the CRNG take it now:
 * without RNDRESEEDCRNG the kernel reseeds on its own schedule (up to a
 * minute), and until then every clone of one template draws the same bytes.
 */
static int
add_seed(const uint8_t *seed, size_t len, struct qb_error *err)
{
	struct {
		struct rand_pool_info info;
		uint32_t buf[SEED_MAX / sizeof(uint32_t)];
	} p;
	int fd, rc = -1;

	if ((fd = open("/dev/urandom", O_WRONLY | O_CLOEXEC)) == -1)
		return qb_seterr(
		    err, QB_E_INTERNAL, "/dev/urandom: %s", strerror(errno));
	memset(&p, 0, sizeof(p));
	p.info.entropy_count = (int)(len * 8);
	p.info.buf_size = (int)len;
	memcpy(p.buf, seed, len);
	if (ioctl(fd, RNDADDENTROPY, &p.info) == -1)
		qb_seterr(
		    err, QB_E_INTERNAL, "RNDADDENTROPY: %s", strerror(errno));
	else if (ioctl(fd, RNDRESEEDCRNG) == -1)
		qb_seterr(
		    err, QB_E_INTERNAL, "RNDRESEEDCRNG: %s", strerror(errno));
	else
		rc = 0;
	explicit_bzero(&p, sizeof(p));
	close(fd);
	return rc;
}

int
h_set_identity(struct agent *a, const uint8_t *b, size_t n,
    ProtobufCMessage **out, struct qb_error *err)
{
	Qemubox__Guest__V1__SetIdentityRequest *req;
	Qemubox__Guest__V1__SetIdentityResponse *resp;
	struct timespec ts;
	int rc = -1;

	(void)a;
	if ((req = qemubox__guest__v1__set_identity_request__unpack(
	         NULL, n, b)) == NULL)
		return qb_seterr(err, QB_E_INVALID, "bad SetIdentityRequest");
	if (req->seed.len < SEED_MIN || req->seed.len > SEED_MAX) {
		qb_seterr(err, QB_E_INVALID, "seed: %zu bytes, need %d..%d",
		    req->seed.len, SEED_MIN, SEED_MAX);
		goto done;
	}
	if (req->realtime_ns < 0) {
		qb_seterr(err, QB_E_INVALID, "realtime_ns below 0");
		goto done;
	}
	if (add_seed(req->seed.data, req->seed.len, err) == -1)
		goto done;
	if (req->realtime_ns > 0) {
		ts.tv_sec = (time_t)(req->realtime_ns / 1000000000);
		ts.tv_nsec = (long)(req->realtime_ns % 1000000000);
		if (clock_settime(CLOCK_REALTIME, &ts) == -1) {
			qb_seterr(err, QB_E_INTERNAL, "clock_settime: %s",
			    strerror(errno));
			goto done;
		}
	}
	if ((resp = malloc(sizeof(*resp))) == NULL) {
		qb_seterr(err, QB_E_INTERNAL, "out of memory");
		goto done;
	}
	qemubox__guest__v1__set_identity_response__init(resp);
	clock_gettime(CLOCK_BOOTTIME, &ts);
	resp->uptime_ms =
	    (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	*out = &resp->base;
	log_info("%s: seed of %zu bytes added, CRNG reseeded%s", __func__,
	    req->seed.len, req->realtime_ns > 0 ? ", clock set" : "");
	rc = 0;
done:
	if (req->seed.data != NULL)
		explicit_bzero(req->seed.data, req->seed.len);
	qemubox__guest__v1__set_identity_request__free_unpacked(req, NULL);
	return rc;
}

int
h_shutdown(struct agent *a, const uint8_t *b, size_t n, ProtobufCMessage **out,
    struct qb_error *err)
{
	(void)b;
	(void)n;
	(void)out;
	(void)err;
	/* Stop once the answer is on the wire (see chan_want_write). */
	a->stopping = true;
	return 0;
}
