/* libFuzzer: CNI plugin output (results and error objects) and conflists. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "privnet/privnet.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cni_result r;
	struct qb_net_result net;
	struct cni_conflist cl;
	struct qb_error err;
	char *conf;
	size_t len;

	cni_result_parse((const char *)data, size, &r, &err);
	memset(&net, 0, sizeof(net));
	cni_result_to_net(&r, "eth0", &net);
	cni_error_parse((const char *)data, size, &err);
	if (cni_conflist_parse((const char *)data, size, &cl, &err) == 0) {
		conf = cni_plugin_config(&cl, 0, NULL, &len, &err);
		free(conf);
		cni_conflist_free(&cl);
	}
	return 0;
}
