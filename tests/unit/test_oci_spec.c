/*
 * shim/oci_spec: the sandbox a container belongs to (runc group, CRI
 * sandbox id, its own id), the CRI kind, netns, cgroupsPath and the pod's
 * size from CRI's sandbox annotations; malformed values are errors naming
 * them; the VM size is config plus the pod's, bounded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "shim/oci_spec.h"

static int
info(const char *json, const char *id, struct oci_spec_info *si,
    struct qb_error *err)
{
	struct json_object *spec = json_tokener_parse(json);
	int rc;

	assert_non_null(spec);
	rc = oci_spec_info(spec, id, si, err);
	json_object_put(spec);
	return rc;
}

static void
test_plain(void **state)
{
	struct oci_spec_info si;
	struct qb_error err = {0};

	(void)state;
	assert_int_equal(
	    info("{\"ociVersion\":\"1.0.2\"}", "c1", &si, &err), 0);
	assert_string_equal(si.sandbox_id, "c1");
	assert_int_equal(si.kind, OCI_KIND_PLAIN);
	assert_string_equal(si.netns, "");
	assert_string_equal(si.cgroups_path, "");
	assert_int_equal(si.extra_cpus, 0);
	assert_int_equal(si.extra_mb, 0);
}

static void
test_cri_sandbox(void **state)
{
	struct oci_spec_info si;
	struct qb_error err = {0};
	const char *sb =
	    "{\"annotations\":{\"io.kubernetes.cri.container-type\":"
	    "\"sandbox\","
	    "\"io.kubernetes.cri.sandbox-id\":\"pod1\","
	    "\"io.kubernetes.cri.sandbox-cpu-quota\":\"150000\","
	    "\"io.kubernetes.cri.sandbox-cpu-period\":\"100000\","
	    "\"io.kubernetes.cri.sandbox-memory\":\"134217729\"},"
	    "\"linux\":{\"cgroupsPath\":\"/kubepods/podu/pod1\","
	    "\"namespaces\":[{\"type\":\"pid\"},{\"type\":\"network\","
	    "\"path\":\"/var/run/netns/cni-1\"}]}}";

	(void)state;
	assert_int_equal(info(sb, "pod1", &si, &err), 0);
	assert_string_equal(si.sandbox_id, "pod1");
	assert_int_equal(si.kind, OCI_KIND_CRI_SANDBOX);
	assert_string_equal(si.netns, "/var/run/netns/cni-1");
	assert_string_equal(si.cgroups_path, "/kubepods/podu/pod1");
	assert_int_equal(si.extra_cpus, 2); /* 1.5 CPUs, rounded up */
	assert_int_equal(si.extra_mb, 129); /* 128 MiB + 1 byte */

	/* A sandbox container naming another sandbox is refused. */
	assert_int_equal(info(sb, "other", &si, &err), -1);
	assert_int_equal(err.code, QB_E_INVALID);

	/* An app container joins by the sandbox id; -1 quota: no limit. */
	assert_int_equal(
	    info("{\"annotations\":{\"io.kubernetes.cri.container-type\":"
	         "\"container\",\"io.kubernetes.cri.sandbox-id\":\"pod1\","
	         "\"io.kubernetes.cri.sandbox-cpu-quota\":\"-1\","
	         "\"io.kubernetes.cri.sandbox-cpu-period\":\"100000\"}}",
	        "c2", &si, &err),
	    0);
	assert_string_equal(si.sandbox_id, "pod1");
	assert_int_equal(si.kind, OCI_KIND_CRI_CONTAINER);
	assert_int_equal(si.extra_cpus, 0);
}

static void
test_malformed(void **state)
{
	static const char *const bad[] = {
	    "{\"annotations\":{\"io.kubernetes.cri.sandbox-memory\":\"12x\"}}",
	    "{\"annotations\":{\"io.kubernetes.cri.sandbox-memory\":12}}",
	    "{\"annotations\":{\"io.kubernetes.cri.sandbox-cpu-quota\":"
	    "\"99999999999999999999999\"}}",
	    "{\"annotations\":{\"io.kubernetes.cri.sandbox-cpu-quota\":"
	    "\"100000000\",\"io.kubernetes.cri.sandbox-cpu-period\":\"1\"}}",
	    "{\"annotations\":{\"io.kubernetes.cri.container-type\":\"pod\"}}",
	    "{\"annotations\":{\"io.kubernetes.cri.sandbox-id\":\"../x\"}}",
	    "{\"annotations\":{\"io.containerd.runc.v2.group\":\"a b\"}}",
	    "{\"annotations\":[]}",
	    "{\"linux\":{\"cgroupsPath\":7}}",
	    "{\"linux\":{\"namespaces\":[{\"type\":\"network\",\"path\":1}]}}",
	    "[]",
	};
	struct oci_spec_info si;
	struct qb_error err;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&err, 0, sizeof(err));
		assert_int_equal(info(bad[i], "c1", &si, &err), -1);
		assert_int_equal(err.code, QB_E_INVALID);
		assert_true(err.msg[0] != '\0');
	}
	/* The container's own id must be valid too (77 bytes is not). */
	assert_int_equal(info("{}",
	                     "0123456789012345678901234567890123456789"
	                     "0123456789012345678901234567890123456",
	                     &si, &err),
	    -1);
}

static void
test_vm_size(void **state)
{
	struct qb_config cfg;
	struct oci_spec_info si;
	struct oci_vm_size sz;
	struct qb_error err = {0};

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	memset(&si, 0, sizeof(si));
	cfg.runtime.boot_cpus = 1;
	cfg.runtime.max_cpus = 1;
	cfg.runtime.memory_mb = 512;
	cfg.runtime.max_memory_mb = 512;
	si.extra_cpus = 2;
	si.extra_mb = 256;
	assert_int_equal(oci_spec_vm_size(&cfg, &si, &sz, &err), 0);
	assert_int_equal(sz.boot_cpus, 3);
	assert_int_equal(sz.max_cpus, 3);
	assert_int_equal(sz.memory_mb, 768);
	assert_int_equal(sz.max_memory_mb, 768);

	/* With hotplug the configured maximum stays when it is higher. */
	cfg.cpu_hotplug.enabled = true;
	cfg.runtime.max_cpus = 8;
	cfg.memory_hotplug.enabled = true;
	cfg.runtime.max_memory_mb = 4096;
	assert_int_equal(oci_spec_vm_size(&cfg, &si, &sz, &err), 0);
	assert_int_equal(sz.max_cpus, 8);
	assert_int_equal(sz.max_memory_mb, 4096);

	si.extra_cpus = 255;
	assert_int_equal(oci_spec_vm_size(&cfg, &si, &sz, &err), -1);
	assert_int_equal(err.code, QB_E_INVALID);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_plain),
	    cmocka_unit_test(test_cri_sandbox),
	    cmocka_unit_test(test_malformed),
	    cmocka_unit_test(test_vm_size),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
