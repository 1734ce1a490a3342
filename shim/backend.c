#include "shim/backend.h"

static const struct backend_ops *registered;

void
backend_register(const struct backend_ops *ops)
{
	registered = ops;
}

const struct backend_ops *
backend_get(void)
{
	return registered;
}

int
backend_cleanup_orphan(
    const char *ns, const char *id, const char *bundle, struct qb_error *err)
{
	if (registered == NULL || registered->cleanup_orphan == NULL)
		return 0;
	return registered->cleanup_orphan(ns, id, bundle, err);
}
