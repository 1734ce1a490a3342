/*
 * Mount translation inputs: an overlay lowerdir= value as containerd sends
 * it, and the spec's mounts array (from the bundle's config.json).
 * Input: <lowerdir value> NUL <spec JSON>. Host paths named by the input are
 * only stat'ed; regular files are read up to STORAGE_FILE_MAX (never FIFOs
 * or devices), so fuzzing is read-only.
 */
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "shim/storage.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char(*dirs)[PATH_MAX];
	const uint8_t *nul = memchr(data, '\0', size);
	size_t llen = nul != NULL ? (size_t)(nul - data) : size;
	char *lower = malloc(llen + 1);
	struct json_object *spec = NULL;
	struct storage_plan plan;
	struct qb_error err;
	struct json_tokener *tok;

	if (dirs == NULL)
		dirs = calloc(STORAGE_MAX_DISKS, PATH_MAX);
	if (lower == NULL || dirs == NULL)
		return 0;
	memcpy(lower, data, llen);
	lower[llen] = '\0';
	(void)storage_split_lowerdir(lower, dirs, STORAGE_MAX_DISKS);

	if (nul != NULL && (tok = json_tokener_new()) != NULL) {
		spec = json_tokener_parse_ex(
		    tok, (const char *)nul + 1, (int)(size - llen - 1));
		json_tokener_free(tok);
	}
	/* The bind rootfs is "/" so that the spec part is always reached. */
	const char *opts[] = {"rbind", "ro"};
	struct storage_mount m = {"bind", "/", NULL, opts, 2};
	if (storage_plan_build(&m, 1, spec, NULL, &plan, &err) == 0) {
		(void)storage_spec_rewrite(spec, &plan, &err);
		storage_plan_free(&plan);
	}
	json_object_put(spec);
	free(lower);
	return 0;
}
