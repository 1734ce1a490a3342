/*
 * The shim's one reader of a container's OCI spec (shim/oci_spec.h).
 */
#include "shim/oci_spec.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/qb_id.h"

#define ANN_SANDBOX_ID "io.kubernetes.cri.sandbox-id"
#define ANN_RUNC_GROUP "io.containerd.runc.v2.group"
#define ANN_CTR_TYPE   "io.kubernetes.cri.container-type"
#define ANN_CPU_QUOTA  "io.kubernetes.cri.sandbox-cpu-quota"
#define ANN_CPU_PERIOD "io.kubernetes.cri.sandbox-cpu-period"
#define ANN_MEMORY     "io.kubernetes.cri.sandbox-memory"
#define VM_MAX_CPUS    255
#define VM_MAX_MB      (1024u * 1024) /* 1 TiB, config.c's bound */

/* annotations[key] as a string; NULL when absent, -1 when not a string. */
static int
ann_get(struct json_object *ann, const char *key, const char **out,
    struct qb_error *err)
{
	struct json_object *v;

	*out = NULL;
	if (ann == NULL || !json_object_object_get_ex(ann, key, &v))
		return 0;
	if (!json_object_is_type(v, json_type_string))
		return qb_seterr(
		    err, QB_E_INVALID, "annotation %s is not a string", key);
	*out = json_object_get_string(v);
	return 0;
}

/* A decimal annotation (may be negative: CRI's "no limit" is -1 or 0). */
static int
ann_int(struct json_object *ann, const char *key, long long *out,
    struct qb_error *err)
{
	const char *s;
	char *end;

	*out = 0;
	if (ann_get(ann, key, &s, err) == -1)
		return -1;
	if (s == NULL)
		return 0;
	errno = 0;
	*out = strtoll(s, &end, 10);
	if (s[0] == '\0' || *end != '\0' || errno != 0)
		return qb_seterr(err, QB_E_INVALID,
		    "annotation %s: \"%.40s\" is not a number", key, s);
	return 0;
}

/* A string field into out (len), "" when absent. */
static int
str_field(struct json_object *o, const char *what, char *out, size_t len,
    struct qb_error *err)
{
	size_t n;

	if (o == NULL) {
		out[0] = '\0';
		return 0;
	}
	if (!json_object_is_type(o, json_type_string))
		return qb_seterr(err, QB_E_INVALID, "%s is not a string", what);
	if ((n = (size_t)json_object_get_string_len(o)) >= len)
		return qb_seterr(err, QB_E_INVALID, "%s is too long", what);
	memcpy(out, json_object_get_string(o), n + 1);
	return 0;
}

/* linux.namespaces[type=network].path */
static int
spec_netns(
    struct json_object *linux_, char *out, size_t len, struct qb_error *err)
{
	struct json_object *nss, *ns, *t, *p;
	size_t i;

	out[0] = '\0';
	if (linux_ == NULL ||
	    !json_object_object_get_ex(linux_, "namespaces", &nss) ||
	    !json_object_is_type(nss, json_type_array))
		return 0;
	for (i = 0; i < json_object_array_length(nss); i++) {
		ns = json_object_array_get_idx(nss, i);
		if (!json_object_object_get_ex(ns, "type", &t) ||
		    !json_object_is_type(t, json_type_string) ||
		    strcmp(json_object_get_string(t), "network") != 0)
			continue;
		if (json_object_object_get_ex(ns, "path", &p))
			return str_field(
			    p, "the network namespace path", out, len, err);
	}
	return 0;
}

static int
spec_sizing(
    struct json_object *ann, struct oci_spec_info *out, struct qb_error *err)
{
	long long quota, period, mem;

	if (ann_int(ann, ANN_CPU_QUOTA, &quota, err) == -1 ||
	    ann_int(ann, ANN_CPU_PERIOD, &period, err) == -1 ||
	    ann_int(ann, ANN_MEMORY, &mem, err) == -1)
		return -1;
	out->extra_cpus = 0;
	if (quota > 0 && period > 0) {
		if (quota / period >= VM_MAX_CPUS)
			return qb_seterr(err, QB_E_INVALID,
			    "pod CPU quota %lld/%lld: more than %d CPUs", quota,
			    period, VM_MAX_CPUS);
		out->extra_cpus = (unsigned)((quota + period - 1) / period);
	}
	out->extra_mb = 0;
	if (mem > 0) {
		if ((unsigned long long)mem / (1024 * 1024) >= VM_MAX_MB)
			return qb_seterr(err, QB_E_INVALID,
			    "pod memory %lld bytes: more than 1 TiB", mem);
		out->extra_mb =
		    ((uint64_t)mem + 1024 * 1024 - 1) / (1024 * 1024);
	}
	return 0;
}

int
oci_spec_info(struct json_object *spec, const char *id,
    struct oci_spec_info *out, struct qb_error *err)
{
	struct json_object *ann = NULL, *linux_ = NULL, *cg = NULL;
	const char *sid = NULL, *kind = NULL;

	memset(out, 0, sizeof(*out));
	if (!json_object_is_type(spec, json_type_object))
		return qb_seterr(err, QB_E_INVALID,
		    "the OCI spec is not an "
		    "object");
	if (json_object_object_get_ex(spec, "annotations", &ann) &&
	    !json_object_is_type(ann, json_type_object))
		return qb_seterr(
		    err, QB_E_INVALID, "spec annotations are not an object");
	if (ann_get(ann, ANN_RUNC_GROUP, &sid, err) == -1 ||
	    ann_get(ann, ANN_CTR_TYPE, &kind, err) == -1)
		return -1;
	if (sid == NULL || sid[0] == '\0') {
		if (ann_get(ann, ANN_SANDBOX_ID, &sid, err) == -1)
			return -1;
		if (sid == NULL || sid[0] == '\0')
			sid = id;
	}
	if (!qb_id_valid(sid))
		return qb_seterr(err, QB_E_INVALID,
		    "sandbox id \"%.80s\" is not a valid id", sid);
	memcpy(out->sandbox_id, sid, strlen(sid) + 1);
	if (kind == NULL)
		out->kind = OCI_KIND_PLAIN;
	else if (strcmp(kind, "sandbox") == 0)
		out->kind = OCI_KIND_CRI_SANDBOX;
	else if (strcmp(kind, "container") == 0)
		out->kind = OCI_KIND_CRI_CONTAINER;
	else
		return qb_seterr(err, QB_E_INVALID,
		    "annotation " ANN_CTR_TYPE " \"%.40s\": want sandbox or "
		    "container",
		    kind);
	if (out->kind == OCI_KIND_CRI_SANDBOX && strcmp(sid, id) != 0)
		return qb_seterr(err, QB_E_INVALID,
		    "CRI sandbox container %s names sandbox %s", id, sid);
	if (json_object_object_get_ex(spec, "linux", &linux_) &&
	    !json_object_is_type(linux_, json_type_object))
		return qb_seterr(err, QB_E_INVALID,
		    "spec linux is not an "
		    "object");
	if (linux_ != NULL)
		json_object_object_get_ex(linux_, "cgroupsPath", &cg);
	if (spec_netns(linux_, out->netns, sizeof(out->netns), err) == -1 ||
	    str_field(cg, "linux.cgroupsPath", out->cgroups_path,
	        sizeof(out->cgroups_path), err) == -1)
		return -1;
	return spec_sizing(ann, out, err);
}

int
oci_spec_info_file(const char *path, const char *id, struct oci_spec_info *out,
    struct qb_error *err)
{
	struct json_object *spec;
	int rc;

	if ((spec = json_object_from_file(path)) == NULL)
		return qb_seterr(err, QB_E_INVALID, "read OCI spec %s: %s",
		    path,
		    json_util_get_last_err() ? json_util_get_last_err()
		                             : "invalid JSON");
	rc = oci_spec_info(spec, id, out, err);
	json_object_put(spec);
	if (rc == -1)
		return qb_preferr(err, "%s", path);
	return 0;
}

int
oci_spec_vm_size(const struct qb_config *cfg, const struct oci_spec_info *si,
    struct oci_vm_size *out, struct qb_error *err)
{
	uint64_t cpus = (uint64_t)cfg->runtime.boot_cpus + si->extra_cpus;
	uint64_t mb = (uint64_t)cfg->runtime.memory_mb + si->extra_mb;

	if (cpus > VM_MAX_CPUS || mb > VM_MAX_MB)
		return qb_seterr(err, QB_E_INVALID,
		    "pod size: %llu vCPUs and %llu MiB (config plus the pod's "
		    "annotations); a VM has at most %d vCPUs and 1 TiB",
		    (unsigned long long)cpus, (unsigned long long)mb,
		    VM_MAX_CPUS);
	out->boot_cpus = (unsigned)cpus;
	out->memory_mb = (unsigned)mb;
	out->max_cpus =
	    cfg->cpu_hotplug.enabled && cfg->runtime.max_cpus > out->boot_cpus
	        ? cfg->runtime.max_cpus
	        : out->boot_cpus;
	out->max_memory_mb = cfg->memory_hotplug.enabled &&
	                             cfg->runtime.max_memory_mb > out->memory_mb
	                         ? cfg->runtime.max_memory_mb
	                         : out->memory_mb;
	return 0;
}
