/*
 * The typed stubs of qemubox-privnet over the imsg client core
 * (shim/imsg_client.c): the request table, shim_dispatch_privnet and one
 * function per operation with its own signature.
 */
#include "shim/privnet_client.h"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imsg/imsg.h"
#include "lib/log.h"
#include "shim/imsg_client.h"

/*
 * privnet answers one request at a time, in order; NET_SETUP runs CNI
 * plugins, so a blocking call has no time bound of its own here.
 */
static int check_net_result(const void *res);
static int check_net_tap(const void *res);

static const struct imsg_client_rpc privnet_rpcs[] = {
    {.req_type = IMSG_NET_SETUP_REQ,
        .req_len = sizeof(struct qb_net_setup_req),
        .res_type = IMSG_NET_SETUP_RES,
        .res_len = sizeof(struct qb_net_result),
        .res_fd = true,
        .res_check = check_net_result},
    {.req_type = IMSG_NET_TEARDOWN_REQ,
        .req_len = sizeof(struct qb_net_id_req),
        .res_type = IMSG_NET_TEARDOWN_RES,
        .res_len = sizeof(struct qb_net_id_req)},
    {.req_type = IMSG_NET_STATUS_REQ,
        .req_len = sizeof(struct qb_net_id_req),
        .res_type = IMSG_NET_STATUS_RES,
        .res_len = sizeof(struct qb_net_status)},
    {.req_type = IMSG_NET_TAP_REQ,
        .req_len = sizeof(struct qb_net_setup_req),
        .res_type = IMSG_NET_TAP_RES,
        .res_len = sizeof(struct qb_net_tap),
        .res_fd = true,
        .res_check = check_net_tap},
    {.req_type = IMSG_NET_WIRE_REQ,
        .req_len = sizeof(struct qb_net_id_req),
        .res_type = IMSG_NET_WIRE_RES,
        .res_len = sizeof(struct qb_net_result),
        .res_check = check_net_result},
};

struct privnet_client {
	struct imsg_client *ic;
	bool freeing; /* pending callbacks are dropped, not called */
};

/* One request's typed callback. */
struct call {
	struct privnet_client *c;
	privnet_setup_cb setup;
	privnet_done_cb done;
	privnet_status_cb status;
	privnet_tap_cb tap;
	void *arg;
};

static int
check_net_result(const void *res)
{
	const struct qb_net_result *r = res;

	if (qb_imsg_check_strfield(r->tap_name, sizeof(r->tap_name)) < 0 ||
	    r->n_ips > QB_NET_MAX_IPS || r->n_routes > QB_NET_MAX_ROUTES ||
	    r->n_dns > QB_NET_MAX_DNS || r->n_search > QB_NET_MAX_SEARCH)
		return -1;
	return 0;
}

static int
check_net_tap(const void *res)
{
	const struct qb_net_tap *t = res;

	if (qb_imsg_check_strfield(t->tap_name, sizeof(t->tap_name)) < 0 ||
	    qb_imsg_check_strfield(t->netns_path, sizeof(t->netns_path)) < 0)
		return -1;
	return 0;
}

/* Everything privnet sends is an answer: it has no events. */
static int
shim_dispatch_privnet(struct imsg_client *ic, struct imsg *imsg, void *arg)
{
	(void)arg;
	switch (imsg_get_type(imsg)) {
	case IMSG_ERROR:
	case IMSG_NET_SETUP_RES:
	case IMSG_NET_TEARDOWN_RES:
	case IMSG_NET_STATUS_RES:
	case IMSG_NET_TAP_RES:
	case IMSG_NET_WIRE_RES:
		return imsg_client_answer(ic, imsg);
	default:
		log_warnx(
		    "%s: unexpected message %u", __func__, imsg_get_type(imsg));
		return -1;
	}
}

static const struct imsg_client_peer privnet_peer = {
    .name = "qemubox-privnet",
    .rpcs = privnet_rpcs,
    .n_rpcs = sizeof(privnet_rpcs) / sizeof(privnet_rpcs[0]),
    .in_order = true,
    .dispatch = shim_dispatch_privnet,
};

struct privnet_client *
privnet_client_new(int fd)
{
	struct privnet_client *c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	if ((c->ic = imsg_client_new(fd, &privnet_peer)) == NULL) {
		free(c);
		return NULL;
	}
	return c;
}

void
privnet_client_free(struct privnet_client *c)
{
	if (c == NULL)
		return;
	c->freeing = true;
	imsg_client_free(c->ic, true);
	free(c);
}

int
privnet_client_fd(const struct privnet_client *c)
{
	return imsg_client_fd(c->ic);
}

int
privnet_client_want_write(const struct privnet_client *c)
{
	return imsg_client_want_write(c->ic);
}

int
privnet_client_write(struct privnet_client *c)
{
	return imsg_client_write(c->ic);
}

int
privnet_client_read(struct privnet_client *c)
{
	return imsg_client_read(c->ic);
}

static void
call_done(
    void *arg, const void *res, size_t len, int fd, const struct qb_error *err)
{
	struct call *k = arg;

	(void)len;
	if (k->c->freeing) {
		free(k);
		return;
	}
	if (k->setup != NULL)
		k->setup(k->arg, res, fd, err);
	else if (k->tap != NULL)
		k->tap(k->arg, res, fd, err);
	else if (k->done != NULL)
		k->done(k->arg, err);
	else
		k->status(k->arg, res, err);
	free(k);
}

static int
id_field(char *dst, size_t dstlen, const char *s, const char *what,
    struct qb_error *err)
{
	if (strlen(s) >= dstlen)
		return qb_seterr(err, QB_E_INVALID,
		    "%s \"%s\" too long (max %zu)", what, s, dstlen - 1);
	memset(dst, 0, dstlen);
	memcpy(dst, s, strlen(s));
	return 0;
}

/* Queue a request whose answer goes to k's typed callback (k is copied). */
static int
request(struct privnet_client *c, uint32_t type, const void *req, size_t len,
    const struct call *k, struct qb_error *err)
{
	struct call *h;

	if ((h = malloc(sizeof(*h))) == NULL)
		return qb_seterr(err, QB_E_INTERNAL, "out of memory");
	*h = *k;
	h->c = c;
	if (imsg_client_request(
	        c->ic, type, req, len, NULL, 0, call_done, h, err) == -1) {
		free(h);
		return -1;
	}
	return 0;
}

static int
setup_req(struct qb_net_setup_req *req, const char *sandbox_id,
    const char *netns_path_or_empty, struct qb_error *err)
{
	memset(req, 0, sizeof(*req));
	if (id_field(req->sandbox_id, sizeof(req->sandbox_id), sandbox_id,
	        "sandbox id", err) == -1 ||
	    id_field(req->netns_path, sizeof(req->netns_path),
	        netns_path_or_empty ? netns_path_or_empty : "", "netns path",
	        err) == -1)
		return -1;
	return 0;
}

static int
id_req(struct qb_net_id_req *req, const char *sandbox_id, struct qb_error *err)
{
	memset(req, 0, sizeof(*req));
	return id_field(req->sandbox_id, sizeof(req->sandbox_id), sandbox_id,
	    "sandbox id", err);
}

int
privnet_net_setup_async(struct privnet_client *c, const char *sandbox_id,
    const char *netns_path_or_empty, privnet_setup_cb cb, void *arg,
    struct qb_error *err)
{
	struct qb_net_setup_req req;
	struct call k = {.setup = cb, .arg = arg};

	if (setup_req(&req, sandbox_id, netns_path_or_empty, err) == -1)
		return -1;
	return request(c, IMSG_NET_SETUP_REQ, &req, sizeof(req), &k, err);
}

int
privnet_net_tap_async(struct privnet_client *c, const char *sandbox_id,
    privnet_tap_cb cb, void *arg, struct qb_error *err)
{
	struct qb_net_setup_req req;
	struct call k = {.tap = cb, .arg = arg};

	if (setup_req(&req, sandbox_id, "", err) == -1)
		return -1;
	return request(c, IMSG_NET_TAP_REQ, &req, sizeof(req), &k, err);
}

int
privnet_net_wire_async(struct privnet_client *c, const char *sandbox_id,
    privnet_setup_cb cb, void *arg, struct qb_error *err)
{
	struct qb_net_id_req req;
	struct call k = {.setup = cb, .arg = arg};

	if (id_req(&req, sandbox_id, err) == -1)
		return -1;
	return request(c, IMSG_NET_WIRE_REQ, &req, sizeof(req), &k, err);
}

int
privnet_net_teardown_async(struct privnet_client *c, const char *sandbox_id,
    privnet_done_cb cb, void *arg, struct qb_error *err)
{
	struct qb_net_id_req req;
	struct call k = {.done = cb, .arg = arg};

	if (id_req(&req, sandbox_id, err) == -1)
		return -1;
	return request(c, IMSG_NET_TEARDOWN_REQ, &req, sizeof(req), &k, err);
}

int
privnet_net_status_async(struct privnet_client *c, const char *sandbox_id,
    privnet_status_cb cb, void *arg, struct qb_error *err)
{
	struct qb_net_id_req req;
	struct call k = {.status = cb, .arg = arg};

	if (id_req(&req, sandbox_id, err) == -1)
		return -1;
	return request(c, IMSG_NET_STATUS_REQ, &req, sizeof(req), &k, err);
}

int
privnet_net_setup(struct privnet_client *c, const char *sandbox_id,
    const char *netns_path_or_empty, struct qb_net_result *out, int *tap_fd,
    struct qb_error *err)
{
	struct qb_net_setup_req req;

	*tap_fd = -1;
	if (setup_req(&req, sandbox_id, netns_path_or_empty, err) == -1)
		return -1;
	return imsg_client_call(c->ic, IMSG_NET_SETUP_REQ, &req, sizeof(req),
	    NULL, 0, out, sizeof(*out), tap_fd, err);
}

int
privnet_net_tap(struct privnet_client *c, const char *sandbox_id,
    struct qb_net_tap *out, int *tap_fd, struct qb_error *err)
{
	struct qb_net_setup_req req;

	*tap_fd = -1;
	if (setup_req(&req, sandbox_id, "", err) == -1)
		return -1;
	return imsg_client_call(c->ic, IMSG_NET_TAP_REQ, &req, sizeof(req),
	    NULL, 0, out, sizeof(*out), tap_fd, err);
}

int
privnet_net_wire(struct privnet_client *c, const char *sandbox_id,
    struct qb_net_result *out, struct qb_error *err)
{
	struct qb_net_id_req req;

	if (id_req(&req, sandbox_id, err) == -1)
		return -1;
	return imsg_client_call(c->ic, IMSG_NET_WIRE_REQ, &req, sizeof(req),
	    NULL, 0, out, sizeof(*out), NULL, err);
}

int
privnet_net_teardown(
    struct privnet_client *c, const char *sandbox_id, struct qb_error *err)
{
	struct qb_net_id_req req, ack;

	if (id_req(&req, sandbox_id, err) == -1)
		return -1;
	return imsg_client_call(c->ic, IMSG_NET_TEARDOWN_REQ, &req, sizeof(req),
	    NULL, 0, &ack, sizeof(ack), NULL, err);
}

int
privnet_net_status(struct privnet_client *c, const char *sandbox_id,
    struct qb_net_status *out, struct qb_error *err)
{
	struct qb_net_id_req req;

	if (id_req(&req, sandbox_id, err) == -1)
		return -1;
	return imsg_client_call(c->ic, IMSG_NET_STATUS_REQ, &req, sizeof(req),
	    NULL, 0, out, sizeof(*out), NULL, err);
}

const char *
privnet_addr_str(
    const struct qb_net_addr *a, int with_prefix, char *buf, size_t len)
{
	char tmp[INET6_ADDRSTRLEN];

	buf[0] = '\0';
	if ((a->family != AF_INET && a->family != AF_INET6) ||
	    inet_ntop(a->family, a->addr, tmp, sizeof(tmp)) == NULL)
		return buf;
	if (with_prefix)
		snprintf(buf, len, "%s/%u", tmp, a->prefixlen);
	else
		snprintf(buf, len, "%s", tmp);
	return buf;
}
