/*
 * vmmon/elf_deps.c: the libraries vmmon binds into QEMU's jail. The oracle
 * is the host's own dynamic loader (ld.so --list): every library it loads
 * for QEMU must be in our list by name, or QEMU would not start in the jail.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "vmmon/elf_deps.h"

#define QEMU "/usr/bin/qemu-system-x86_64"
#define LDSO "/lib64/ld-linux-x86-64.so.2"

static struct elf_deps deps;

static int
have_name(const char *name)
{
	size_t i;
	const char *b;

	for (i = 0; i < deps.n; i++) {
		b = strrchr(deps.path[i], '/');
		if (b != NULL && strcmp(b + 1, name) == 0)
			return 1;
	}
	return 0;
}

static void
qemu_matches_ldso(void **state)
{
	char line[1024], name[256];
	int checked = 0;
	FILE *p;

	(void)state;
	deps.n = 0;
	assert_int_equal(elf_deps_add(&deps, QEMU), 0);
	assert_true(deps.n > 10);
	p = popen(LDSO " --list " QEMU, "r");
	assert_non_null(p);
	while (fgets(line, sizeof(line), p) != NULL) {
		/* "\tlibz.so.1 => /lib/x86_64-linux-gnu/libz.so.1 (0x...)" */
		if (strstr(line, " => ") == NULL ||
		    sscanf(line, " %255s", name) != 1)
			continue;
		if (!have_name(name))
			fail_msg("ld.so loads %s, elf_deps lacks it", name);
		checked++;
	}
	assert_int_equal(pclose(p), 0);
	assert_true(checked > 10);
	/* The interpreter, under the name the binary asks for. */
	assert_true(have_name("ld-linux-x86-64.so.2"));
}

static void
no_duplicates_and_all_exist(void **state)
{
	size_t i, k;

	(void)state;
	deps.n = 0;
	assert_int_equal(elf_deps_add(&deps, QEMU), 0);
	/* A second add of the same file changes nothing. */
	k = deps.n;
	assert_int_equal(elf_deps_add(&deps, QEMU), 0);
	assert_int_equal(deps.n, k);
	for (i = 0; i < deps.n; i++) {
		assert_int_equal(access(deps.path[i], R_OK), 0);
		for (k = i + 1; k < deps.n; k++)
			assert_string_not_equal(deps.path[i], deps.path[k]);
	}
}

static void
refuses_non_elf(void **state)
{
	char path[PATH_MAX];
	char buf[256];
	int fd, in;
	ssize_t n;

	(void)state;
	snprintf(path, sizeof(path), "%s/qb-elfdeps.XXXXXX",
	    getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	deps.n = 0;
	errno = 0;
	assert_int_equal(elf_deps_add(&deps, "/nonexistent/qemu"), -1);
	assert_int_equal(errno, ENOENT);

	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "#!/bin/sh\n", 10), 10);
	errno = 0;
	assert_int_equal(elf_deps_add(&deps, path), -1);
	assert_int_equal(errno, ENOEXEC);

	/* A truncated ELF: the header is there, the program headers not. */
	assert_int_equal(ftruncate(fd, 0), 0);
	in = open(QEMU, O_RDONLY);
	assert_true(in >= 0);
	n = read(in, buf, 80);
	close(in);
	assert_int_equal(n, 80);
	assert_int_equal(pwrite(fd, buf, 80, 0), 80);
	errno = 0;
	assert_int_equal(elf_deps_add(&deps, path), -1);
	assert_int_equal(errno, ENOEXEC);
	assert_int_equal(deps.n, 0);
	close(fd);
	unlink(path);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(qemu_matches_ldso),
	    cmocka_unit_test(no_duplicates_and_all_exist),
	    cmocka_unit_test(refuses_non_elf),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
