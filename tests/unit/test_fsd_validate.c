/*
 * What qemubox-fsd accepts as a volume source and a sandbox id.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "fsd/fsd.h"

static void
test_sources(void **state)
{
	char longp[5000];

	(void)state;
	assert_true(fsd_valid_source("/srv/data"));
	assert_true(fsd_valid_source("/srv/data/"));
	assert_true(fsd_valid_source("/a/.hidden/..x/b"));
	assert_false(fsd_valid_source(""));
	assert_false(fsd_valid_source("/"));
	assert_false(fsd_valid_source("srv/data"));
	assert_false(fsd_valid_source("/srv/../etc"));
	assert_false(fsd_valid_source("/srv/.."));
	assert_false(fsd_valid_source("/srv/./data"));
	assert_false(fsd_valid_source("/srv//data"));
	memset(longp, 'a', sizeof(longp) - 1);
	longp[0] = '/';
	longp[sizeof(longp) - 1] = '\0';
	assert_false(fsd_valid_source(longp));
}

static void
test_ids(void **state)
{
	(void)state;
	assert_true(fsd_valid_id("abc-1.x_y"));
	assert_false(fsd_valid_id(""));
	assert_false(fsd_valid_id("-abc"));
	assert_false(fsd_valid_id("a/b"));
	assert_false(fsd_valid_id("a b"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sources),
	    cmocka_unit_test(test_ids),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
