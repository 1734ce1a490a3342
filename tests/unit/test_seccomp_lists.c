/*
 * What each role's seccomp filter allows, compared with
 * tests/golden/seccomp/<role>.txt (run from the repo root;
 * QB_UPDATE_GOLDEN=1 rewrites them). The filters are built by the real
 * seccomp_apply_*() (for the roles whose program is compiled at build
 * time, seccomp/seccomp_bpf.h, by their seccomp_policy_*(): what those
 * programs are made from) and caught at seccomp_load (linked with
 * -Wl,--wrap=seccomp_load), so nothing is loaded into the test process.
 * The golden form is libseccomp's pseudo filter code cut into one line per
 * syscall (its rule, action and argument checks), sorted: the order the
 * rules were added in does not matter, the set and each action do.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "seccomp/seccomp.h"
#include "seccomp/seccomp_bpf.h"
#include "tests/unit/golden.h"

int __wrap_seccomp_load(const scmp_filter_ctx ctx);

static char *captured;

int
__wrap_seccomp_load(const scmp_filter_ctx ctx)
{
	int fd = memfd_create("pfc", 0);
	off_t len;

	assert_true(fd >= 0);
	assert_int_equal(seccomp_export_pfc(ctx, fd), 0);
	len = lseek(fd, 0, SEEK_END);
	assert_true(len > 0);
	free(captured);
	captured = calloc(1, (size_t)len + 1);
	assert_non_null(captured);
	assert_int_equal(pread(fd, captured, (size_t)len, 0), len);
	close(fd);
	return 0;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* One line per "# filter for syscall" block, sorted; other lines as is. */
static char *
normalize(const char *pfc)
{
	char *copy = strdup(pfc), *line, *save = NULL, *out, *p;
	char **blocks = NULL;
	size_t nb = 0, i, total = 1;

	assert_non_null(copy);
	for (line = strtok_r(copy, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		while (*line == ' ')
			line++;
		if (strncmp(line, "# filter for syscall ", 21) == 0) {
			blocks = realloc(blocks, (nb + 1) * sizeof(*blocks));
			assert_non_null(blocks);
			/* The priority depends on libseccomp's bookkeeping,
			 * not on what the rule allows. */
			if ((p = strstr(line, " [priority")) != NULL)
				*p = '\0';
			blocks[nb++] = strdup(line + 21);
			continue;
		}
		if (strncmp(line, "# default action", 16) == 0)
			break;
		if (nb == 0)
			continue; /* the arch check before the first syscall */
		p = blocks[nb - 1];
		blocks[nb - 1] = calloc(1, strlen(p) + strlen(line) + 4);
		assert_non_null(blocks[nb - 1]);
		sprintf(blocks[nb - 1], "%s | %s", p, line);
		free(p);
	}
	qsort(blocks, nb, sizeof(*blocks), cmp_str);
	for (i = 0; i < nb; i++)
		total += strlen(blocks[i]) + 1;
	out = calloc(1, total);
	assert_non_null(out);
	for (i = 0; i < nb; i++) {
		strcat(out, blocks[i]);
		strcat(out, "\n");
		free(blocks[i]);
	}
	free(blocks);
	free(copy);
	return out;
}

static void
check_role(const char *role, int (*apply)(enum qb_seccomp_mode))
{
	char path[256], *got;

	free(captured);
	captured = NULL;
	assert_int_equal(apply(QB_SECCOMP_ENFORCE), 0);
	assert_non_null(captured);
	got = normalize(captured);
	snprintf(path, sizeof(path), "tests/golden/seccomp/%s.txt", role);
	golden_check(path, got);
	free(got);
}

static void
test_shim(void **state)
{
	(void)state;
	check_role("shim", seccomp_policy_shim);
}

static void
test_privnet(void **state)
{
	(void)state;
	check_role("privnet", seccomp_policy_privnet);
}

/* Fixed pids, so the golden files do not depend on the test's own. */
static int
vmmon_fixed(enum qb_seccomp_mode mode)
{
	return seccomp_policy_vmmon(mode, 3, 2);
}

static int
vmmon_qemu_fixed(enum qb_seccomp_mode mode)
{
	return seccomp_policy_vmmon_qemu(mode, 3);
}

static void
test_vmmon(void **state)
{
	(void)state;
	check_role("vmmon", vmmon_fixed);
}

static void
test_vmmon_qemu(void **state)
{
	(void)state;
	check_role("vmmon-qemu", vmmon_qemu_fixed);
}

static void
test_spawner(void **state)
{
	(void)state;
	check_role("spawner", seccomp_apply_spawner);
}

static void
test_layerbuild(void **state)
{
	(void)state;
	check_role("layerbuild", seccomp_apply_layerbuild);
}

static void
test_fsd(void **state)
{
	(void)state;
	check_role("fsd", seccomp_apply_fsd);
}

static void
test_tmpl(void **state)
{
	(void)state;
	check_role("tmpl", seccomp_apply_tmpl);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_shim),
	    cmocka_unit_test(test_privnet),
	    cmocka_unit_test(test_vmmon),
	    cmocka_unit_test(test_vmmon_qemu),
	    cmocka_unit_test(test_spawner),
	    cmocka_unit_test(test_layerbuild),
	    cmocka_unit_test(test_fsd),
	    cmocka_unit_test(test_tmpl),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);

	free(captured);
	return rc;
}
