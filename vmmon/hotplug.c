/*
 * qemubox-vmmon: vCPU and memory hotplug over QMP (q35 only). Each request
 * is a small state machine stepped by its QMP replies; an unplug waits for
 * the guest's DEVICE_DELETED (vm_lifecycle.c forwards it to unplug_done).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmmon/qemu_argv.h"
#include "vmmon/vmmon.h"

/* ---- CPU hotplug ---- */

static void cpu_step(struct req *r, const struct qmp_result *res);

static void
cpu_cb(void *arg, const struct qmp_result *res)
{
	cpu_step(arg, res);
}

/* Counts plugged and total vCPUs; picks the first free slot's entry. */
static int
cpus_scan(json_object *list, unsigned *present, unsigned *max,
    json_object **free_slot)
{
	size_t i, n;

	if (!json_object_is_type(list, json_type_array))
		return -1;
	n = json_object_array_length(list);
	if (n > 1024)
		return -1;
	*present = *max = 0;
	if (free_slot != NULL)
		*free_slot = NULL;
	for (i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(list, i), *vc;
		int cnt = 1;

		if (!json_object_is_type(e, json_type_object))
			return -1;
		if (json_object_object_get_ex(e, "vcpus-count", &vc) &&
		    json_object_is_type(vc, json_type_int))
			cnt = json_object_get_int(vc);
		if (cnt < 1 || cnt > 256)
			return -1;
		*max += (unsigned)cnt;
		if (json_object_object_get_ex(e, "qom-path", NULL))
			*present += (unsigned)cnt;
		else if (free_slot != NULL && *free_slot == NULL)
			*free_slot = e;
	}
	return 0;
}

/* device_add arguments from a free slot: driver=type, id, props copied. */
static json_object *
cpu_add_args(json_object *slot, const char *id)
{
	static const char *const keys[] = {"node-id", "socket-id", "die-id",
	    "cluster-id", "core-id", "thread-id", NULL};
	json_object *args, *type, *props, *v;
	size_t i;

	if (!json_object_object_get_ex(slot, "type", &type) ||
	    !json_object_is_type(type, json_type_string) ||
	    !qemu_argv_safe_token(json_object_get_string(type)) ||
	    !json_object_object_get_ex(slot, "props", &props) ||
	    !json_object_is_type(props, json_type_object))
		return NULL;
	if ((args = json_object_new_object()) == NULL)
		return NULL;
	json_object_object_add(args, "driver",
	    json_object_new_string(json_object_get_string(type)));
	json_object_object_add(args, "id", json_object_new_string(id));
	/* Only the topology keys we know, only integers. */
	for (i = 0; keys[i] != NULL; i++) {
		if (!json_object_object_get_ex(props, keys[i], &v))
			continue;
		if (!json_object_is_type(v, json_type_int)) {
			json_object_put(args);
			return NULL;
		}
		json_object_object_add(args, keys[i],
		    json_object_new_int64(json_object_get_int64(v)));
	}
	return args;
}

static void
cpu_reply(struct req *r, unsigned present, unsigned max)
{
	struct qb_vmm_cpu_res out;

	memset(&out, 0, sizeof(out));
	out.present = present;
	out.max = max;
	snprintf(out.dev_id, sizeof(out.dev_id), "%s", r->dev);
	send_msg(IMSG_VMM_CPU_RES, r->peerid, &out, sizeof(out));
	free(r);
}

/*
 * Unplug the last of the n hot-added devices in ids: fail r when there is
 * none or another unplug is running, else ask QEMU to device_del it.
 */
static void
unplug_start(struct req *r, unsigned n, char (*ids)[QB_VMM_DEVID_MAX],
    const char *what, qmp_result_cb cb)
{
	json_object *args;

	if (n == 0) {
		req_fail(
		    r, QB_E_PRECONDITION, "no hot-added %s to remove", what);
		return;
	}
	if (vmmon.vm.unplug.r != NULL) {
		req_fail(r, QB_E_UNAVAILABLE, "another unplug is in progress");
		return;
	}
	snprintf(r->dev, sizeof(r->dev), "%s", ids[n - 1]);
	args = json_object_new_object();
	json_object_object_add(args, "id", json_object_new_string(r->dev));
	req_qmp(r, "device_del", args, cb);
}

/* device_del went to the guest; its DEVICE_DELETED finishes r. */
void
unplug_wait(struct req *r)
{
	vmmon.vm.unplug.r = r;
	vmmon.vm.unplug.deadline = qmp_now_ms() + UNPLUG_TIMEOUT_MS;
}

/* Answer r with fresh vCPU counts. */
static void
cpu_query(struct req *r)
{
	r->type = IMSG_VMM_CPU_QUERY_REQ;
	r->step = 1;
	req_qmp(r, "query-hotpluggable-cpus", NULL, cpu_cb);
}

static void
cpu_step(struct req *r, const struct qmp_result *res)
{
	json_object *slot, *args;
	unsigned present, max;

	if (res != NULL && qmp_failed(r, res, "cpu hotplug"))
		return;
	switch (r->step++) {
	case 0:
		if (r->type == IMSG_VMM_CPU_DEL_REQ) {
			unplug_start(
			    r, vmmon.vm.ncpus, vmmon.vm.cpus, "vCPU", cpu_cb);
			return;
		}
		req_qmp(r, "query-hotpluggable-cpus", NULL, cpu_cb);
		return;
	case 1:
		if (r->type == IMSG_VMM_CPU_DEL_REQ) {
			unplug_wait(r);
			return;
		}
		if (cpus_scan(res->ret, &present, &max,
		        r->type == IMSG_VMM_CPU_ADD_REQ ? &slot : NULL) == -1) {
			req_fail(r, QB_E_INTERNAL,
			    "query-hotpluggable-cpus: malformed reply");
			return;
		}
		if (r->type == IMSG_VMM_CPU_QUERY_REQ) {
			cpu_reply(r, present, max);
			return;
		}
		if (slot == NULL || vmmon.vm.ncpus >= MAX_HOTPLUG) {
			req_fail(
			    r, QB_E_EXHAUSTED, "all %u vCPUs are present", max);
			return;
		}
		snprintf(r->dev, sizeof(r->dev), "qbcpu%u", ++vmmon.vm.seq);
		if ((args = cpu_add_args(slot, r->dev)) == NULL) {
			req_fail(r, QB_E_INTERNAL,
			    "query-hotpluggable-cpus: malformed slot");
			return;
		}
		req_qmp(r, "device_add", args, cpu_cb);
		return;
	case 2:
		snprintf(vmmon.vm.cpus[vmmon.vm.ncpus++], QB_VMM_DEVID_MAX,
		    "%s", r->dev);
		cpu_query(r);
		return;
	}
}

void
hotplug_cpu(struct req *r)
{
	cpu_step(r, NULL);
}

/* ---- memory hotplug ---- */

static void mem_step(struct req *r, const struct qmp_result *res);

static void
mem_cb(void *arg, const struct qmp_result *res)
{
	mem_step(arg, res);
}

static void
mem_query(struct req *r)
{
	r->step = 100;
	req_qmp(r, "query-memory-size-summary", NULL, mem_cb);
}

static void
mem_step(struct req *r, const struct qmp_result *res)
{
	struct qb_vmm_mem_res out;
	json_object *args, *v;

	if (res != NULL && qmp_failed(r, res, "memory hotplug"))
		return;
	switch (r->step++) {
	case 0:
		if (r->type == IMSG_VMM_MEM_QUERY_REQ) {
			mem_query(r);
			return;
		}
		if (r->type == IMSG_VMM_MEM_DEL_REQ) {
			/* Its backend object goes once the DIMM is gone. */
			if (vmmon.vm.ndimms > 0)
				snprintf(r->mem, sizeof(r->mem), "%s",
				    vmmon.vm.mems[vmmon.vm.ndimms - 1]);
			unplug_start(r, vmmon.vm.ndimms, vmmon.vm.dimms,
			    "memory", mem_cb);
			return;
		}
		if (vmmon.vm.ndimms >= MAX_HOTPLUG) {
			req_fail(r, QB_E_EXHAUSTED, "too many DIMMs");
			return;
		}
		vmmon.vm.seq++;
		snprintf(r->mem, sizeof(r->mem), "qbmem%u", vmmon.vm.seq);
		snprintf(r->dev, sizeof(r->dev), "qbdimm%u", vmmon.vm.seq);
		args = json_object_new_object();
		json_object_object_add(args, "qom-type",
		    json_object_new_string(vmmon.vm.shared_mem
		                               ? "memory-backend-memfd"
		                               : "memory-backend-ram"));
		if (vmmon.vm.shared_mem)
			json_object_object_add(
			    args, "share", json_object_new_boolean(1));
		json_object_object_add(
		    args, "id", json_object_new_string(r->mem));
		json_object_object_add(args, "size",
		    json_object_new_int64((int64_t)(r->size << 20)));
		req_qmp(r, "object-add", args, mem_cb);
		return;
	case 1:
		if (r->type == IMSG_VMM_MEM_DEL_REQ) {
			unplug_wait(r);
			return;
		}
		args = json_object_new_object();
		json_object_object_add(
		    args, "driver", json_object_new_string("pc-dimm"));
		json_object_object_add(
		    args, "id", json_object_new_string(r->dev));
		json_object_object_add(
		    args, "memdev", json_object_new_string(r->mem));
		req_qmp(r, "device_add", args, mem_cb);
		return;
	case 2:
		if (r->type == IMSG_VMM_MEM_DEL_REQ) {
			/* object-del done: the DIMM is gone. */
			vmmon.vm.ndimms--;
		} else {
			snprintf(vmmon.vm.dimms[vmmon.vm.ndimms],
			    QB_VMM_DEVID_MAX, "%s", r->dev);
			snprintf(vmmon.vm.mems[vmmon.vm.ndimms],
			    QB_VMM_DEVID_MAX, "%s", r->mem);
			vmmon.vm.ndimms++;
		}
		mem_query(r);
		return;
	case 100:
		memset(&out, 0, sizeof(out));
		if (!json_object_is_type(res->ret, json_type_object) ||
		    !json_object_object_get_ex(res->ret, "base-memory", &v) ||
		    !json_object_is_type(v, json_type_int)) {
			req_fail(r, QB_E_INTERNAL,
			    "query-memory-size-summary: malformed reply");
			return;
		}
		out.base_bytes = (uint64_t)json_object_get_int64(v);
		if (json_object_object_get_ex(res->ret, "plugged-memory", &v) &&
		    json_object_is_type(v, json_type_int))
			out.plugged_bytes = (uint64_t)json_object_get_int64(v);
		snprintf(out.dev_id, sizeof(out.dev_id), "%s", r->dev);
		send_msg(IMSG_VMM_MEM_RES, r->peerid, &out, sizeof(out));
		free(r);
		return;
	}
}

/* DEVICE_DELETED for the device we are unplugging. */
void
unplug_done(bool ok, const char *why)
{
	struct req *r = vmmon.vm.unplug.r;
	json_object *args;

	vmmon.vm.unplug.r = NULL;
	if (r->type == IMSG_VMM_DISK_DEL_REQ) {
		disk_unplugged(r, ok, why);
		return;
	}
	if (!ok) {
		req_fail(r, QB_E_ABORTED, "unplug %s: %s", r->dev, why);
		return;
	}
	if (r->type == IMSG_VMM_CPU_DEL_REQ) {
		vmmon.vm.ncpus--;
		cpu_query(r);
		return;
	}
	args = json_object_new_object();
	json_object_object_add(args, "id", json_object_new_string(r->mem));
	r->step = 2;
	req_qmp(r, "object-del", args, mem_cb);
}

void
hotplug_mem(struct req *r)
{
	mem_step(r, NULL);
}
