#include "privnet/cni_result.h"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "privnet/privnet.h"

/* Results are a few objects deep; a deeper document is hostile. */
#define CNI_JSON_DEPTH 16

int
cni_addr_parse(const char *s, int want_prefix, struct qb_net_addr *out)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *slash;
	size_t hlen;
	char *end;
	long plen;
	int maxlen;

	memset(out, 0, sizeof(*out));
	slash = strchr(s, '/');
	if ((slash != NULL) != (want_prefix != 0))
		goto bad;
	hlen = slash ? (size_t)(slash - s) : strlen(s);
	if (hlen == 0 || hlen >= sizeof(host))
		goto bad;
	memcpy(host, s, hlen);
	host[hlen] = '\0';
	if (inet_pton(AF_INET, host, out->addr) == 1) {
		out->family = AF_INET;
		maxlen = 32;
	} else if (inet_pton(AF_INET6, host, out->addr) == 1) {
		out->family = AF_INET6;
		maxlen = 128;
	} else
		goto bad;
	out->prefixlen = (uint8_t)maxlen;
	if (slash != NULL) {
		if (slash[1] < '0' || slash[1] > '9')
			goto bad;
		errno = 0;
		plen = strtol(slash + 1, &end, 10);
		if (errno != 0 || *end != '\0' || plen < 0 || plen > maxlen)
			goto bad;
		out->prefixlen = (uint8_t)plen;
	}
	return 0;
bad:
	memset(out, 0, sizeof(*out));
	errno = EINVAL;
	return -1;
}

static int
parse_mac(const char *s, uint8_t mac[6])
{
	unsigned v[6];
	char tail;
	int i;

	if (strlen(s) != 17 ||
	    sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3],
	        &v[4], &v[5], &tail) != 6)
		return -1;
	for (i = 0; i < 6; i++) {
		if (s[i * 3 + 2] != ':' && i < 5)
			return -1;
		mac[i] = (uint8_t)v[i];
	}
	return 0;
}

/* A member that, when present, must have type `t`. NULL when absent. */
static int
member(json_object *obj, const char *key, json_type t, json_object **out)
{
	json_object *v = NULL;

	*out = NULL;
	if (!json_object_object_get_ex(obj, key, &v) || v == NULL)
		return 0;
	if (!json_object_is_type(v, t))
		return -1;
	*out = v;
	return 0;
}

static int
copy_str(json_object *v, char *dst, size_t dstlen)
{
	const char *s = json_object_get_string(v);
	size_t n = (size_t)json_object_get_string_len(v);

	if (n >= dstlen || memchr(s, '\0', n) != NULL)
		return -1;
	memcpy(dst, s, n);
	dst[n] = '\0';
	return 0;
}

json_object *
cni_json_parse(
    const char *buf, size_t len, struct qb_error *err, const char *what)
{
	struct json_tokener *tok;
	json_object *obj;
	enum json_tokener_error jerr;

	if (len == 0 || len > CNI_RESULT_MAX_BYTES || len > INT32_MAX) {
		qb_seterr(err, QB_E_INTERNAL, "%s: %zu bytes (want 1..%d)",
		    what, len, CNI_RESULT_MAX_BYTES);
		return NULL;
	}
	if ((tok = json_tokener_new_ex(CNI_JSON_DEPTH)) == NULL) {
		qb_seterr(err, QB_E_INTERNAL, "%s: out of memory", what);
		return NULL;
	}
	obj = json_tokener_parse_ex(tok, buf, (int)len);
	jerr = json_tokener_get_error(tok);
	if (obj != NULL && jerr == json_tokener_success &&
	    json_tokener_get_parse_end(tok) < len) {
		/* Trailing bytes: only whitespace is allowed after the value.
		 */
		size_t i;
		for (i = json_tokener_get_parse_end(tok); i < len; i++)
			if (!strchr(" \t\r\n", buf[i]))
				break;
		if (i < len) {
			json_object_put(obj);
			obj = NULL;
			qb_seterr(err, QB_E_INTERNAL,
			    "%s: trailing bytes after the JSON value", what);
			json_tokener_free(tok);
			return NULL;
		}
	}
	if (obj == NULL || jerr != json_tokener_success) {
		qb_seterr(err, QB_E_INTERNAL, "%s: invalid JSON (%s)", what,
		    jerr == json_tokener_continue
		        ? "truncated"
		        : json_tokener_error_desc(jerr));
		json_object_put(obj);
		json_tokener_free(tok);
		return NULL;
	}
	json_tokener_free(tok);
	if (!json_object_is_type(obj, json_type_object)) {
		json_object_put(obj);
		qb_seterr(err, QB_E_INTERNAL, "%s: not a JSON object", what);
		return NULL;
	}
	return obj;
}

static int
parse_ifaces(json_object *arr, struct cni_result *res, struct qb_error *err)
{
	size_t i, n = json_object_array_length(arr);
	json_object *it, *v;

	if (n > CNI_MAX_IFACES)
		return qb_seterr(err, QB_E_INTERNAL,
		    "CNI result: %zu interfaces (max %d)", n, CNI_MAX_IFACES);
	for (i = 0; i < n; i++) {
		struct cni_iface *f = &res->ifaces[i];

		it = json_object_array_get_idx(arr, i);
		if (!json_object_is_type(it, json_type_object))
			return qb_seterr(err, QB_E_INTERNAL,
			    "CNI result: interfaces[%zu] is not an object", i);
		if (member(it, "name", json_type_string, &v) == -1 ||
		    v == NULL || copy_str(v, f->name, sizeof(f->name)) == -1 ||
		    f->name[0] == '\0')
			return qb_seterr(err, QB_E_INTERNAL,
			    "CNI result: interfaces[%zu].name missing or "
			    "longer "
			    "than %d",
			    i, QB_IFNAME_MAX - 1);
		if (member(it, "mac", json_type_string, &v) == -1)
			goto badmac;
		if (v != NULL && json_object_get_string_len(v) > 0) {
			if (parse_mac(json_object_get_string(v), f->mac) == -1)
				goto badmac;
			f->has_mac = 1;
		}
		if (member(it, "sandbox", json_type_string, &v) == -1)
			return qb_seterr(err, QB_E_INTERNAL,
			    "CNI result: interfaces[%zu].sandbox is not a "
			    "string",
			    i);
		f->in_sandbox = v != NULL && json_object_get_string_len(v) > 0;
		continue;
	badmac:
		return qb_seterr(err, QB_E_INTERNAL,
		    "CNI result: interfaces[%zu].mac is not a MAC address", i);
	}
	res->n_ifaces = (unsigned)n;
	return 0;
}

static int
parse_ips(json_object *arr, struct cni_result *res, struct qb_error *err)
{
	size_t i, n = json_object_array_length(arr);
	json_object *it, *v;

	if (n > QB_NET_MAX_IPS)
		return qb_seterr(err, QB_E_INTERNAL,
		    "CNI result: %zu ips (max %d)", n, QB_NET_MAX_IPS);
	for (i = 0; i < n; i++) {
		struct cni_ip *ip = &res->ips[i];

		it = json_object_array_get_idx(arr, i);
		if (!json_object_is_type(it, json_type_object))
			return qb_seterr(err, QB_E_INTERNAL,
			    "CNI result: ips[%zu] is not an object", i);
		if (member(it, "address", json_type_string, &v) == -1 ||
		    v == NULL ||
		    cni_addr_parse(json_object_get_string(v), 1, &ip->addr) ==
		        -1)
			return qb_seterr(err, QB_E_INTERNAL,
			    "CNI result: ips[%zu].address is not an "
			    "address/prefix",
			    i);
		if (member(it, "gateway", json_type_string, &v) == -1 ||
		    (v != NULL && (cni_addr_parse(json_object_get_string(v), 0,
		                       &ip->gw) == -1 ||
		                      ip->gw.family != ip->addr.family)))
			return qb_seterr(err, QB_E_INTERNAL,
			    "CNI result: ips[%zu].gateway is not an address of "
			    "the same family",
			    i);
		ip->iface = -1;
		if (member(it, "interface", json_type_int, &v) == -1)
			goto badif;
		if (v != NULL) {
			int64_t k = json_object_get_int64(v);
			if (k < 0 || k >= (int64_t)res->n_ifaces)
				goto badif;
			ip->iface = (int)k;
		}
		/* 0.3.x/0.4.0 carry "version"; when present it must agree. */
		if (member(it, "version", json_type_string, &v) == -1)
			goto badver;
		if (v != NULL) {
			const char *ver = json_object_get_string(v);
			if (!((strcmp(ver, "4") == 0 &&
			          ip->addr.family == AF_INET) ||
			        (strcmp(ver, "6") == 0 &&
			            ip->addr.family == AF_INET6)))
				goto badver;
		}
		continue;
	badif:
		return qb_seterr(err, QB_E_INTERNAL,
		    "CNI result: ips[%zu].interface is not an index into "
		    "interfaces",
		    i);
	badver:
		return qb_seterr(err, QB_E_INTERNAL,
		    "CNI result: ips[%zu].version does not match the address",
		    i);
	}
	res->n_ips = (unsigned)n;
	return 0;
}

static int
parse_routes(json_object *arr, struct cni_result *res, struct qb_error *err)
{
	size_t i, n = json_object_array_length(arr);
	json_object *it, *v;

	if (n > QB_NET_MAX_ROUTES)
		return qb_seterr(err, QB_E_INTERNAL,
		    "CNI result: %zu routes (max %d)", n, QB_NET_MAX_ROUTES);
	for (i = 0; i < n; i++) {
		struct qb_net_route *r = &res->routes[i];

		it = json_object_array_get_idx(arr, i);
		if (!json_object_is_type(it, json_type_object) ||
		    member(it, "dst", json_type_string, &v) == -1 ||
		    v == NULL ||
		    cni_addr_parse(json_object_get_string(v), 1, &r->dst) == -1)
			return qb_seterr(err, QB_E_INTERNAL,
			    "CNI result: routes[%zu].dst is not an "
			    "address/prefix",
			    i);
		if (member(it, "gw", json_type_string, &v) == -1 ||
		    (v != NULL && (cni_addr_parse(json_object_get_string(v), 0,
		                       &r->gw) == -1 ||
		                      r->gw.family != r->dst.family)))
			return qb_seterr(err, QB_E_INTERNAL,
			    "CNI result: routes[%zu].gw is not an address of "
			    "the "
			    "same family",
			    i);
	}
	res->n_routes = (unsigned)n;
	return 0;
}

static int
valid_dns_name(const char *s)
{
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		        (*s >= '0' && *s <= '9') || *s == '-' || *s == '.' ||
		        *s == '_'))
			return 0;
	return 1;
}

static int
parse_dns(json_object *dns, struct cni_result *res, struct qb_error *err)
{
	json_object *arr, *v;
	size_t i, n;

	if (member(dns, "nameservers", json_type_array, &arr) == -1)
		goto bad;
	n = arr ? json_object_array_length(arr) : 0;
	if (n > QB_NET_MAX_DNS)
		return qb_seterr(err, QB_E_INTERNAL,
		    "CNI result: %zu nameservers (max %d)", n, QB_NET_MAX_DNS);
	for (i = 0; i < n; i++) {
		v = json_object_array_get_idx(arr, i);
		if (!json_object_is_type(v, json_type_string) ||
		    cni_addr_parse(
		        json_object_get_string(v), 0, &res->dns[i]) == -1)
			return qb_seterr(err, QB_E_INTERNAL,
			    "CNI result: dns.nameservers[%zu] is not an "
			    "address",
			    i);
	}
	res->n_dns = (unsigned)n;
	if (member(dns, "domain", json_type_string, &v) == -1 ||
	    (v != NULL &&
	        (copy_str(v, res->dns_domain, sizeof(res->dns_domain)) == -1 ||
	            !valid_dns_name(res->dns_domain))))
		return qb_seterr(err, QB_E_INTERNAL,
		    "CNI result: dns.domain is not a domain name");
	if (member(dns, "search", json_type_array, &arr) == -1)
		goto bad;
	n = arr ? json_object_array_length(arr) : 0;
	if (n > QB_NET_MAX_SEARCH)
		return qb_seterr(err, QB_E_INTERNAL,
		    "CNI result: %zu search domains (max %d)", n,
		    QB_NET_MAX_SEARCH);
	for (i = 0; i < n; i++) {
		v = json_object_array_get_idx(arr, i);
		if (!json_object_is_type(v, json_type_string) ||
		    copy_str(v, res->dns_search[i], QB_DNS_NAME_MAX) == -1 ||
		    !valid_dns_name(res->dns_search[i]))
			return qb_seterr(err, QB_E_INTERNAL,
			    "CNI result: dns.search[%zu] is not a domain name",
			    i);
	}
	res->n_search = (unsigned)n;
	return 0;
bad:
	return qb_seterr(err, QB_E_INTERNAL,
	    "CNI result: dns.nameservers/search must be arrays");
}

static int
supported_version(const char *v)
{
	static const char *const ok[] = {
	    "0.3.0", "0.3.1", "0.4.0", "1.0.0", NULL};
	int i;

	for (i = 0; ok[i] != NULL; i++)
		if (strcmp(v, ok[i]) == 0)
			return 1;
	return 0;
}

int
cni_result_parse(
    const char *buf, size_t len, struct cni_result *res, struct qb_error *err)
{
	json_object *root, *v;
	int rc = -1;

	memset(res, 0, sizeof(*res));
	if ((root = cni_json_parse(buf, len, err, "CNI result")) == NULL)
		return -1;
	if (member(root, "cniVersion", json_type_string, &v) == -1 ||
	    v == NULL ||
	    copy_str(v, res->cni_version, sizeof(res->cni_version)) == -1 ||
	    !supported_version(res->cni_version)) {
		qb_seterr(err, QB_E_INTERNAL,
		    "CNI result: cniVersion missing or not one of 0.3.0, "
		    "0.3.1, 0.4.0, 1.0.0");
		goto out;
	}
	if (json_object_object_get_ex(root, "code", NULL)) {
		qb_seterr(err, QB_E_INTERNAL,
		    "CNI result: an error object where a result was expected");
		goto out;
	}
	if (member(root, "interfaces", json_type_array, &v) == -1) {
		qb_seterr(err, QB_E_INTERNAL,
		    "CNI result: interfaces is not an array");
		goto out;
	}
	if (v != NULL && parse_ifaces(v, res, err) == -1)
		goto out;
	if (member(root, "ips", json_type_array, &v) == -1) {
		qb_seterr(
		    err, QB_E_INTERNAL, "CNI result: ips is not an array");
		goto out;
	}
	if (v != NULL && parse_ips(v, res, err) == -1)
		goto out;
	if (member(root, "routes", json_type_array, &v) == -1) {
		qb_seterr(
		    err, QB_E_INTERNAL, "CNI result: routes is not an array");
		goto out;
	}
	if (v != NULL && parse_routes(v, res, err) == -1)
		goto out;
	if (member(root, "dns", json_type_object, &v) == -1) {
		qb_seterr(
		    err, QB_E_INTERNAL, "CNI result: dns is not an object");
		goto out;
	}
	if (v != NULL && parse_dns(v, res, err) == -1)
		goto out;
	rc = 0;
out:
	json_object_put(root);
	if (rc == -1) {
		memset(res, 0, sizeof(*res));
		errno = EBADMSG;
	}
	return rc;
}

/* Keep only printable ASCII so a plugin cannot put escapes into our logs. */
static void
sanitize(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			*s = '?';
}

int
cni_error_parse(const char *buf, size_t len, struct qb_error *err)
{
	char msg[512] = "", details[400] = "";
	json_object *root, *v;
	int64_t code = 0;

	if ((root = cni_json_parse(buf, len, err, "CNI error")) == NULL)
		return -1;
	if (member(root, "code", json_type_int, &v) == -1 || v == NULL) {
		json_object_put(root);
		return qb_seterr(err, QB_E_INTERNAL,
		    "CNI error: no integer \"code\" in the plugin's output");
	}
	code = json_object_get_int64(v);
	if (member(root, "msg", json_type_string, &v) == 0 && v != NULL)
		snprintf(msg, sizeof(msg), "%s", json_object_get_string(v));
	if (member(root, "details", json_type_string, &v) == 0 && v != NULL)
		snprintf(
		    details, sizeof(details), "%s", json_object_get_string(v));
	json_object_put(root);
	sanitize(msg);
	sanitize(details);
	errno = EPROTO;
	return qb_seterr(err, QB_E_INTERNAL, "CNI error %lld: %s%s%s",
	    (long long)code, msg[0] ? msg : "(no message)",
	    details[0] ? ": " : "", details);
}

void
cni_result_to_net(
    const struct cni_result *res, const char *ifname, struct qb_net_result *out)
{
	unsigned i;
	int want = -1;

	for (i = 0; i < res->n_ifaces; i++)
		if (res->ifaces[i].in_sandbox &&
		    strcmp(res->ifaces[i].name, ifname) == 0)
			want = (int)i;
	out->n_ips = 0;
	for (i = 0; i < res->n_ips; i++) {
		/* An IP names its interface, or (no index) belongs to ours. */
		if (res->ips[i].iface != -1 && res->ips[i].iface != want)
			continue;
		out->ips[out->n_ips] = res->ips[i].addr;
		out->gateways[out->n_ips] = res->ips[i].gw;
		out->n_ips++;
	}
	out->n_routes = res->n_routes;
	memcpy(out->routes, res->routes, sizeof(out->routes));
	out->n_dns = res->n_dns;
	memcpy(out->dns, res->dns, sizeof(out->dns));
	memcpy(out->dns_domain, res->dns_domain, sizeof(out->dns_domain));
	out->n_search = res->n_search;
	memcpy(out->dns_search, res->dns_search, sizeof(out->dns_search));
	if (want != -1 && res->ifaces[want].has_mac)
		memcpy(out->mac, res->ifaces[want].mac, 6);
}
