/*
 * qemubox-vmmon: a template VM saves its device state (IMSG_VMM_SAVE_REQ,
 * ram_mode TEMPLATE only; docs/PERFORMANCE.md "Pre-booted VMs and cloning").
 *
 *   migrate-set-capabilities x-ignore-shared + events (RAM stays in the
 *   shared RAM memfd; the MIGRATION event says when it is done) -> stop ->
 *   getfd qb-state (the staged STATE fd over SCM_RIGHTS) -> migrate
 *   fd:qb-state -> MIGRATION "completed" -> quit -> QEMU reaped -> SAVE_RES.
 *
 * The template must never run again once saved: with share=on its writes
 * would reach the memfd, which then no longer matches the saved state. So
 * the VM quits, and a failed save kills it. Bounded by SAVE_TIMEOUT_MS.
 */
#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/log.h"
#include "vmmon/vmmon.h"

#define STATE_FDNAME "qb-state"

static void save_step(void *arg, const struct qmp_result *res);
static void save_migrated(void);

/* The save failed: answer, and the template never runs on. */
static void
save_fail(const char *fmt, const char *what, const char *why)
{
	struct req *r = vmmon.vm.save;

	vmmon.vm.save = NULL;
	vmmon.vm.save_deadline = 0;
	if (r != NULL) {
		char msg[QB_ERRMSG_MAX];

		snprintf(msg, sizeof(msg), fmt, what, why);
		log_warnx("%s: %s", __func__, msg);
		req_fail(r, QB_E_INTERNAL, "save: %s", msg);
	}
	vm_kill("the template's save failed");
}

/* x-ignore-shared + events: for a template's save and a clone's restore. */
json_object *
vm_migrate_caps(void)
{
	static const char *const caps[] = {"x-ignore-shared", "events"};
	json_object *args = json_object_new_object(),
	            *list = json_object_new_array(), *c;
	size_t i;

	for (i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
		c = json_object_new_object();
		json_object_object_add(
		    c, "capability", json_object_new_string(caps[i]));
		json_object_object_add(c, "state", json_object_new_boolean(1));
		json_object_array_add(list, c);
	}
	json_object_object_add(args, "capabilities", list);
	return args;
}

/* {"key": "value"} */
json_object *
vm_qmp_arg(const char *key, const char *value)
{
	json_object *a = json_object_new_object();

	json_object_object_add(a, key, json_object_new_string(value));
	return a;
}

static void
save_step(void *arg, const struct qmp_result *res)
{
	static const char *const what[] = {
	    "migrate-set-capabilities", "stop", "getfd", "migrate", "quit"};
	struct req *r = arg;
	int rc = 0;

	if (r != vmmon.vm.save)
		return; /* failed meanwhile (deadline, QEMU gone) */
	if (!res->ok && vmmon.vm.save_done)
		return; /* quit: QEMU may close QMP first; its reaping decides
		         */
	if (!res->ok) {
		save_fail("%s: %s", what[r->step],
		    res->timed_out ? "QEMU did not answer"
		    : res->closed  ? "the VM is gone"
		                   : res->err_desc);
		return;
	}
	switch (++r->step) {
	case 1:
		rc = vm_qmp("stop", NULL, save_step, r);
		break;
	case 2:
		rc = qmp_execute_fd(vmmon.vm.qmp, "getfd",
		    vm_qmp_arg("fdname", STATE_FDNAME), vmmon.vm.state_fd,
		    QMP_CMD_TIMEOUT_MS, save_step, r);
		break;
	case 3:
		rc = vm_qmp("migrate", vm_qmp_arg("uri", "fd:" STATE_FDNAME),
		    save_step, r);
		break;
	case 4:
		/* Running: the MIGRATION event finishes it, or did already. */
		save_migrated();
		return;
	case 5:
		/* quit answered: vm_exited() answers when QEMU is reaped. */
		break;
	}
	if (rc == -1)
		save_fail("%s: %s", what[r->step], "QMP refused the command");
}

void
vm_save(struct req *r)
{
	vmmon.vm.save = r;
	vmmon.vm.save_done = false;
	vmmon.vm.save_mig = SAVE_MIG_NONE;
	vmmon.vm.save_deadline = qmp_now_ms() + SAVE_TIMEOUT_MS;
	r->step = 0;
	if (vm_qmp("migrate-set-capabilities", vm_migrate_caps(), save_step,
	        r) == -1)
		save_fail("%s: %s", "migrate-set-capabilities",
		    "QMP refused the command");
}

/*
 * Once migrate was answered and the MIGRATION event said how it ended
 * (either may come first): completed -> quit; failed -> fail.
 */
static void
save_migrated(void)
{
	struct req *r = vmmon.vm.save;

	if (r == NULL || r->step != 4 || vmmon.vm.save_mig == SAVE_MIG_NONE)
		return;
	if (vmmon.vm.save_mig == SAVE_MIG_FAILED) {
		save_fail("%s: %s", "migrate", "QEMU reports it failed");
		return;
	}
	vmmon.vm.save_done = true;
	if (vm_qmp("quit", NULL, save_step, r) == -1)
		save_fail("%s: %s", "quit", "QMP refused the command");
}

/* QMP's MIGRATION event while saving. */
void
vm_save_event(json_object *data)
{
	json_object *v;
	const char *st;

	if (vmmon.vm.save == NULL || vmmon.vm.save->step < 3 || data == NULL ||
	    !json_object_object_get_ex(data, "status", &v) ||
	    !json_object_is_type(v, json_type_string))
		return;
	st = json_object_get_string(v);
	log_debug("%s: migration %s", __func__, st);
	if (strcmp(st, "completed") == 0)
		vmmon.vm.save_mig = SAVE_MIG_COMPLETED;
	else if (strcmp(st, "failed") == 0 || strcmp(st, "cancelled") == 0)
		vmmon.vm.save_mig = SAVE_MIG_FAILED;
	save_migrated();
}

/* The deadline passed (vmmon's loop). */
void
vm_save_expired(void)
{
	save_fail("%s: %s", vmmon.vm.save_done ? "quit" : "migrate",
	    "not done in time");
}

/* QEMU is reaped: answer the SAVE that made it quit, or fail it. */
void
vm_save_exited(void)
{
	struct req *r = vmmon.vm.save;
	struct qb_vmm_save_res out;
	struct stat st;

	if (r == NULL)
		return;
	if (!vmmon.vm.save_done) {
		vmmon.vm.save = NULL;
		vmmon.vm.save_deadline = 0;
		req_fail(r, QB_E_UNAVAILABLE, "save: QEMU exited first");
		return;
	}
	memset(&out, 0, sizeof(out));
	if (fstat(vmmon.vm.state_fd, &st) == 0)
		out.state_bytes = (uint64_t)st.st_size;
	if (fstat(vmmon.vm.ram_fd, &st) == 0)
		out.ram_bytes = (uint64_t)st.st_size;
	log_info("%s: device state %llu bytes, RAM %llu bytes", __func__,
	    (unsigned long long)out.state_bytes,
	    (unsigned long long)out.ram_bytes);
	vmmon.vm.save = NULL;
	vmmon.vm.save_deadline = 0;
	send_msg(IMSG_VMM_SAVE_RES, r->peerid, &out, sizeof(out));
	free(r);
}
