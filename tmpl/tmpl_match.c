/*
 * Does a GET_REQ match the template? Every field that decides the guest or
 * its device set must be equal: a clone of a template booted differently
 * would run another kernel, another RAM size or another machine than the
 * caller asked for. The machine is compared resolved (AUTO without
 * hotplug is microvm: templates have no hotplug).
 */
#include <stdio.h>
#include <string.h>

#include "tmpl/tmpl.h"
#include "vmmon/qemu_argv.h"

static int
same_file(const struct qb_tmpl_file_id *a, const struct qb_tmpl_file_id *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	       a->mtime_sec == b->mtime_sec && a->mtime_nsec == b->mtime_nsec;
}

int
tmpl_match(const struct qb_tmpl_get_req *want,
    const struct qb_tmpl_get_req *have, char *why, size_t len)
{
	enum qb_vmm_machine wm, hm;

	wm = qemu_machine_resolve(
	    want->machine, want->boot_cpus, want->boot_cpus, 0);
	hm = qemu_machine_resolve(
	    have->machine, have->boot_cpus, have->boot_cpus, 0);
	if (want->memory_mb != have->memory_mb)
		snprintf(why, len, "memory_mb %u, template has %u",
		    want->memory_mb, have->memory_mb);
	else if (want->boot_cpus != have->boot_cpus)
		snprintf(why, len, "boot_cpus %u, template has %u",
		    want->boot_cpus, have->boot_cpus);
	else if (wm != hm)
		snprintf(why, len, "machine %u, template has %u", want->machine,
		    have->machine);
	else if (want->transport != have->transport)
		snprintf(why, len, "transport %u, template has %u",
		    want->transport, have->transport);
	else if (!same_file(&want->kernel, &have->kernel))
		snprintf(why, len, "another kernel file");
	else if (!same_file(&want->initrd, &have->initrd))
		snprintf(why, len, "another initrd file");
	else if (strncmp(want->cmdline, have->cmdline, sizeof(want->cmdline)) !=
	         0)
		snprintf(why, len,
		    "kernel cmdline \"%.64s\", template has "
		    "\"%.64s\"",
		    want->cmdline, have->cmdline);
	else
		return 0;
	return -1;
}
