/*
 * Golden file comparison shared by the unit tests (golden.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tests/unit/golden.h"

void
golden_check(const char *path, const char *got)
{
	char *want;
	FILE *f;
	long n;

	if (getenv("QB_UPDATE_GOLDEN") != NULL) {
		assert_non_null(f = fopen(path, "w"));
		fputs(got, f);
		fclose(f);
	}
	if ((f = fopen(path, "r")) == NULL)
		fail_msg(
		    "missing golden file %s (run from the repo root)", path);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	want = calloc(1, (size_t)n + 1);
	assert_non_null(want);
	assert_int_equal(fread(want, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	if (strcmp(got, want) != 0)
		fail_msg("differs from %s:\n%s", path, got);
	free(want);
}
