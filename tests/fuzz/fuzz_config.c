/*
 * libFuzzer target for the config parser: any bytes as config.json. Only the
 * machine-independent part runs (syntax, types, bounds, cross-key rules), so
 * a finding never depends on which paths exist on the fuzzing host.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "lib/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct qb_config cfg;
	struct qb_error err;

	if (qb_config_parse_values(
	        "fuzz", (const char *)data, size, &cfg, &err) == -1) {
		/* Every failure must come with the documented prefix. */
		if (strncmp(err.msg, "config fuzz: ", 13) != 0)
			__builtin_trap();
	}
	return 0;
}
