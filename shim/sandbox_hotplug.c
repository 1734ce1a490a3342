/*
 * One sandbox's hotplug (shim/sandbox_hotplug.h). A step is two
 * asynchronous calls: vmmon adds (removes) the device, then, for an add, the
 * guest agent onlines it; the outcome goes back to the controller. An
 * Update's resize runs the same steps one after another.
 *
 * Requests in flight hold a reference: after sandbox_hotplug_stop() their
 * answers (vmmon and guest clients fail pending calls when they close) only
 * drop it, and the last one frees the object.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imsg/qemubox_imsg.h"
#include "lib/evloop.h"
#include "lib/log.h"
#include "proto/guest.pb-c.h"
#include "shim/guest_client.h"
#include "shim/hotplug_ctl.h"
#include "shim/sandbox_hotplug.h"
#include "shim/vmmon_client.h"

#define SH_GUEST_TIMEOUT_MS 10000
/* The guest sees a hot-added vCPU or DIMM only once it has handled the ACPI
 * notification (19-50 s for a vCPU under TCG on 2 busy host cores): ask it
 * to online again every second until something came online. */
#define SH_ONLINE_RETRY_MS 1000
#define SH_ONLINE_TRIES    120

struct sandbox_hotplug {
	struct evloop *loop;
	struct hotplug_ctl *ctl;
	struct vmmon_client *vmmon;
	struct guest_client *guest;
	char id[128];
	int refs; /* 1 while started + one per request in flight */
	bool stopped;
	unsigned max_cpus, max_mem_mb, mem_step_mb;
	bool sampling;       /* a VmStats call in flight */
	bool want_sample[2]; /* which resources wait for its answer */
	/* The step in flight: the controller's, or a resize's for Update. */
	bool stepping, resize, resize_waiting;
	enum hp_resource res;
	int dir;
	unsigned after; /* what vmmon says the VM has after the step */
	unsigned online_tries;
	struct ev_timer *retry;
	unsigned want_cpus, want_mem_mb;
	sandbox_hotplug_done done;
	void *done_arg;
};

static void
unref(struct sandbox_hotplug *sh)
{
	if (--sh->refs == 0)
		free(sh);
}

static void resize_next(struct sandbox_hotplug *sh);

/* The end of one step, either way. */
static void
step_end(struct sandbox_hotplug *sh, bool ok, unsigned plugged, const char *why)
{
	sh->stepping = false;
	if (!sh->resize) {
		hotplug_ctl_step_done(sh->ctl, sh->res, ok, plugged, why);
		if (sh->resize_waiting) {
			sh->resize_waiting = false;
			sh->resize = true;
			resize_next(sh);
		}
		return;
	}
	hotplug_ctl_resized(sh->ctl, sh->res, plugged);
	if (!ok) {
		struct qb_error err = {0};

		qb_seterr(&err, QB_E_EXHAUSTED, "%s: %s",
		    sh->res == HP_CPU ? "adding a vCPU" : "adding memory",
		    why != NULL ? why : "failed");
		sh->resize = false;
		sh->done(sh->done_arg, &err);
		return;
	}
	resize_next(sh);
}

static unsigned
mem_plugged_mb(const struct qb_vmm_mem_res *m)
{
	return (unsigned)((m->base_bytes + m->plugged_bytes) >> 20);
}

static int start_online(struct sandbox_hotplug *sh);

static void
online_retry(struct ev_timer *t, void *arg)
{
	struct sandbox_hotplug *sh = arg;

	(void)t;
	sh->retry = NULL;
	if (start_online(sh) == -1)
		step_end(sh, false, sh->after, "guest channel closed");
	unref(sh); /* the timer's */
}

static void
online_answer(struct guest_client *gc, const struct qb_error *err,
    const ProtobufCMessage *resp, void *arg)
{
	struct sandbox_hotplug *sh = arg;
	unsigned n = 0;

	(void)gc;
	if (sh->stopped)
		goto out;
	if (err->code != QB_E_OK) {
		log_warnx("%s: sandbox %s: guest did not online the new %s: %s",
		    __func__, sh->id, sh->res == HP_CPU ? "vCPU" : "memory",
		    err->msg);
		/* The device is in the VM either way: count it. */
		step_end(sh, false, sh->after, err->msg);
		goto out;
	}
	if (sh->res == HP_CPU)
		n = ((const Qemubox__Guest__V1__OnlineCpusResponse *)resp)
		        ->online;
	else
		n = ((const Qemubox__Guest__V1__OnlineMemoryResponse *)resp)
		        ->onlined_blocks;
	if (n > 0) {
		step_end(sh, true, sh->after, NULL);
		goto out;
	}
	if (++sh->online_tries >= SH_ONLINE_TRIES) {
		step_end(
		    sh, false, sh->after, "the guest never saw the new device");
		goto out;
	}
	sh->refs++;
	if ((sh->retry = evloop_timer_add(sh->loop,
	         SH_ONLINE_RETRY_MS * 1000000ULL, 0, online_retry, sh)) ==
	    NULL) {
		sh->refs--;
		step_end(sh, false, sh->after, "no timer");
	}
out:
	unref(sh);
}

static int
start_online(struct sandbox_hotplug *sh)
{
	sh->refs++;
	if (guest_call(sh->guest,
	        sh->res == HP_CPU ? "OnlineCpus" : "OnlineMemory", NULL,
	        sh->res == HP_CPU
	            ? &qemubox__guest__v1__online_cpus_response__descriptor
	            : &qemubox__guest__v1__online_memory_response__descriptor,
	        SH_GUEST_TIMEOUT_MS, online_answer, sh) == -1) {
		sh->refs--;
		return -1;
	}
	return 0;
}

static void
device_answer(
    void *arg, const void *res, size_t len, const struct qb_error *err)
{
	struct sandbox_hotplug *sh = arg;
	unsigned plugged;

	(void)len;
	if (sh->stopped)
		goto out;
	if (res == NULL) {
		/* vmmon refuses a removal this VM can never do (vCPU unplug
		 * under TCG): no use asking again every cooldown. */
		if (sh->dir < 0 && err->code == QB_E_PRECONDITION)
			hotplug_ctl_no_scale_down(sh->ctl, sh->res, err->msg);
		step_end(
		    sh, false, hotplug_ctl_plugged(sh->ctl, sh->res), err->msg);
		goto out;
	}
	if (sh->res == HP_CPU)
		plugged = ((const struct qb_vmm_cpu_res *)res)->present;
	else
		plugged = mem_plugged_mb(res);
	if (sh->dir < 0) {
		step_end(sh, true, plugged, NULL);
		goto out;
	}
	sh->after = plugged;
	/* Added: the guest onlines it (Debian's kernel onlines neither hot-
	 * added CPUs nor memory by itself). */
	sh->online_tries = 0;
	if (start_online(sh) == -1)
		step_end(sh, false, plugged, "guest channel closed");
out:
	unref(sh);
}

static int
start_device_step(
    struct sandbox_hotplug *sh, enum hp_resource res, int dir, unsigned amount)
{
	struct qb_vmm_mem_add_req ma = {0};
	struct qb_error err = {0};
	uint32_t type;
	const void *req = NULL;
	size_t len = 0;

	if (sh->stepping)
		return -1;
	if (res == HP_CPU) {
		type = dir > 0 ? IMSG_VMM_CPU_ADD_REQ : IMSG_VMM_CPU_DEL_REQ;
	} else if (dir > 0) {
		type = IMSG_VMM_MEM_ADD_REQ;
		ma.size_mb = amount;
		req = &ma;
		len = sizeof(ma);
	} else {
		type = IMSG_VMM_MEM_DEL_REQ;
	}
	sh->refs++;
	if (vmmon_request_async(
	        sh->vmmon, type, req, len, device_answer, sh, &err) == -1) {
		sh->refs--;
		log_warnx("%s: sandbox %s: %s", __func__, sh->id, err.msg);
		return -1;
	}
	sh->stepping = true;
	sh->res = res;
	sh->dir = dir;
	return 0;
}

/* ---- the controller's ops ---- */

static void
vmstats_answer(struct guest_client *gc, const struct qb_error *err,
    const ProtobufCMessage *resp, void *arg)
{
	struct sandbox_hotplug *sh = arg;
	const Qemubox__Guest__V1__VmStatsResponse *r =
	    (const Qemubox__Guest__V1__VmStatsResponse *)resp;
	struct hp_guest_sample s;
	bool want[2];
	int k;

	(void)gc;
	sh->sampling = false;
	want[HP_CPU] = sh->want_sample[HP_CPU];
	want[HP_MEM] = sh->want_sample[HP_MEM];
	sh->want_sample[HP_CPU] = sh->want_sample[HP_MEM] = false;
	if (sh->stopped)
		goto out;
	if (err->code == QB_E_OK && r != NULL) {
		s.cpu_busy_ticks = r->cpu_busy_ticks;
		s.cpu_total_ticks = r->cpu_total_ticks;
		s.cpus_online = r->cpus_online;
		s.mem_total_kb = r->mem_total_kb;
		s.mem_available_kb = r->mem_available_kb;
		s.throttled_usec = r->throttled_usec;
	}
	/* One answer serves whichever resources asked. */
	for (k = HP_CPU; k <= HP_MEM; k++)
		if (want[k])
			hotplug_ctl_sample(sh->ctl, k,
			    err->code == QB_E_OK && r != NULL ? &s : NULL,
			    err->msg);
out:
	unref(sh);
}

static int
op_sample(void *arg, enum hp_resource res)
{
	struct sandbox_hotplug *sh = arg;

	sh->want_sample[res] = true;
	if (sh->sampling)
		return 0;
	sh->refs++;
	if (guest_call(sh->guest, "VmStats", NULL,
	        &qemubox__guest__v1__vm_stats_response__descriptor,
	        SH_GUEST_TIMEOUT_MS, vmstats_answer, sh) == -1) {
		sh->refs--;
		sh->want_sample[res] = false;
		return -1;
	}
	sh->sampling = true;
	return 0;
}

static int
op_step(void *arg, enum hp_resource res, int dir, unsigned amount)
{
	struct sandbox_hotplug *sh = arg;

	if (sh->resize)
		return -1; /* an Update is resizing: it wins */
	return start_device_step(sh, res, dir, amount);
}

static const struct hotplug_ops sandbox_ops = {op_sample, op_step};

/* ---- Update ---- */

static void
resize_next(struct sandbox_hotplug *sh)
{
	unsigned cpus = hotplug_ctl_plugged(sh->ctl, HP_CPU);
	unsigned mem = hotplug_ctl_plugged(sh->ctl, HP_MEM);

	if (sh->want_cpus > cpus) {
		if (start_device_step(sh, HP_CPU, 1, 1) == 0)
			return;
	} else if (sh->want_mem_mb > mem) {
		if (start_device_step(sh, HP_MEM, 1, sh->mem_step_mb) == 0)
			return;
	} else {
		sh->resize = false;
		sh->done(sh->done_arg, NULL);
		return;
	}
	/* vmmon refused to queue it: report, keep what the VM has. */
	{
		struct qb_error err = {0};

		qb_seterr(
		    &err, QB_E_UNAVAILABLE, "sandbox %s: vmmon gone", sh->id);
		sh->resize = false;
		sh->done(sh->done_arg, &err);
	}
}

int
sandbox_hotplug_resize(struct sandbox_hotplug *sh, unsigned cpus,
    unsigned mem_mb, sandbox_hotplug_done done, void *arg)
{
	if (sh->resize || sh->resize_waiting) {
		errno = EBUSY;
		return -1;
	}
	sh->want_cpus = cpus < sh->max_cpus ? cpus : sh->max_cpus;
	sh->want_mem_mb = mem_mb < sh->max_mem_mb ? mem_mb : sh->max_mem_mb;
	sh->done = done;
	sh->done_arg = arg;
	log_info("%s: sandbox %s: Update asks for %u vCPUs, %u MiB (have %u, "
	         "%u)",
	    __func__, sh->id, sh->want_cpus, sh->want_mem_mb,
	    hotplug_ctl_plugged(sh->ctl, HP_CPU),
	    hotplug_ctl_plugged(sh->ctl, HP_MEM));
	if (sh->stepping) {
		sh->resize_waiting = true; /* after the controller's step */
		return 0;
	}
	sh->resize = true;
	resize_next(sh);
	return 0;
}

/* ---- life cycle ---- */

struct sandbox_hotplug *
sandbox_hotplug_start(struct evloop *loop, const struct qb_config *cfg,
    struct vmmon_client *vmmon, struct guest_client *guest,
    const char *sandbox_id)
{
	struct sandbox_hotplug *sh;

	if ((sh = calloc(1, sizeof(*sh))) == NULL) {
		log_warn("%s: sandbox %s", __func__, sandbox_id);
		return NULL;
	}
	sh->loop = loop;
	sh->vmmon = vmmon;
	sh->guest = guest;
	sh->refs = 1;
	sh->max_cpus = cfg->runtime.max_cpus;
	sh->max_mem_mb = cfg->runtime.max_memory_mb;
	sh->mem_step_mb = cfg->memory_hotplug.increment_size_mb;
	snprintf(sh->id, sizeof(sh->id), "%s", sandbox_id);
	if ((sh->ctl = hotplug_ctl_new(
	         loop, cfg, &sandbox_ops, sh, sandbox_id)) == NULL) {
		free(sh);
		return NULL;
	}
	return sh;
}

void
sandbox_hotplug_stop(struct sandbox_hotplug *sh)
{
	if (sh == NULL)
		return;
	sh->stopped = true;
	if (sh->resize || sh->resize_waiting) {
		struct qb_error err = {0};

		qb_seterr(&err, QB_E_UNAVAILABLE,
		    "sandbox %s: stopped while resizing", sh->id);
		sh->resize = sh->resize_waiting = false;
		sh->done(sh->done_arg, &err);
	}
	if (sh->retry != NULL) {
		evloop_timer_del(sh->retry);
		sh->retry = NULL;
		unref(sh); /* the timer's */
	}
	hotplug_ctl_free(sh->ctl);
	sh->ctl = NULL;
	unref(sh);
}
