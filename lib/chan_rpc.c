/*
 * ttrpc Request/Response envelope codec for the guest channel (lib/chan_rpc.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/chan_rpc.h"

/* ---- reader ---- */

struct pb {
	const uint8_t *p;
	size_t n;
};

static int
pb_varint(struct pb *b, uint64_t *v)
{
	uint64_t r = 0;
	int shift;

	for (shift = 0; shift < 64; shift += 7) {
		if (b->n == 0)
			return -1;
		uint8_t c = *b->p++;
		b->n--;
		r |= (uint64_t)(c & 0x7f) << shift;
		if ((c & 0x80) == 0) {
			*v = r;
			return 0;
		}
	}
	return -1;
}

/*
 * Next field: its number and wire type; for LEN fields a view of the bytes,
 * for VARINT the value. Fixed32/64 fields come back as a view too.
 */
static int
pb_field(
    struct pb *b, uint32_t *num, uint32_t *wt, uint64_t *val, struct pb *view)
{
	uint64_t key, len;

	if (pb_varint(b, &key) == -1)
		return -1;
	*num = (uint32_t)(key >> 3);
	*wt = key & 7;
	if (*num == 0 || key >> 3 > UINT32_MAX)
		return -1;
	switch (*wt) {
	case 0:
		return pb_varint(b, val);
	case 1:
	case 5:
		len = *wt == 1 ? 8 : 4;
		break;
	case 2:
		if (pb_varint(b, &len) == -1)
			return -1;
		break;
	default:
		return -1;
	}
	if (len > b->n)
		return -1;
	view->p = b->p;
	view->n = (size_t)len;
	b->p += len;
	b->n -= (size_t)len;
	return 0;
}

int
chan_rpc_req_decode(const uint8_t *p, size_t n, struct chan_rpc_req *out)
{
	struct pb b = {p, n}, v = {NULL, 0};
	uint32_t num, wt;
	uint64_t val;

	memset(out, 0, sizeof(*out));
	while (b.n > 0) {
		if (pb_field(&b, &num, &wt, &val, &v) == -1)
			goto bad;
		if (num <= 3 && wt != 2)
			goto bad;
		switch (num) {
		case 1:
			out->service = (const char *)v.p;
			out->service_len = v.n;
			break;
		case 2:
			out->method = (const char *)v.p;
			out->method_len = v.n;
			break;
		case 3:
			out->payload = v.p;
			out->payload_len = v.n;
			break;
		default:
			break; /* timeout, metadata: not used on this channel */
		}
	}
	return 0;
bad:
	errno = EBADMSG;
	return -1;
}

static int
status_decode(const uint8_t *p, size_t n, struct chan_rpc_resp *out)
{
	struct pb b = {p, n}, v = {NULL, 0};
	uint32_t num, wt;
	uint64_t val = 0;

	while (b.n > 0) {
		if (pb_field(&b, &num, &wt, &val, &v) == -1)
			return -1;
		if (num == 1) {
			if (wt != 0)
				return -1;
			out->code = (int32_t)(uint32_t)val;
		} else if (num == 2) {
			if (wt != 2)
				return -1;
			out->msg = (const char *)v.p;
			out->msg_len = v.n;
		}
	}
	return 0;
}

int
chan_rpc_resp_decode(const uint8_t *p, size_t n, struct chan_rpc_resp *out)
{
	struct pb b = {p, n}, v = {NULL, 0};
	uint32_t num, wt;
	uint64_t val;

	memset(out, 0, sizeof(*out));
	while (b.n > 0) {
		if (pb_field(&b, &num, &wt, &val, &v) == -1)
			goto bad;
		if (num == 1) {
			if (wt != 2 || status_decode(v.p, v.n, out) == -1)
				goto bad;
		} else if (num == 2) {
			if (wt != 2)
				goto bad;
			out->payload = v.p;
			out->payload_len = v.n;
		}
	}
	return 0;
bad:
	errno = EBADMSG;
	return -1;
}

/* ---- writer ---- */

static size_t
put_varint(uint8_t *o, uint64_t v)
{
	size_t i = 0;

	while (v >= 0x80) {
		o[i++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	o[i++] = (uint8_t)v;
	return i;
}

static size_t
put_len(uint8_t *o, uint32_t num, const void *p, size_t n)
{
	size_t i = put_varint(o, (uint64_t)num << 3 | 2);

	i += put_varint(o + i, n);
	if (n > 0)
		memcpy(o + i, p, n);
	return i + n;
}

int
chan_rpc_send_request(struct chan *ch, uint32_t sid, const char *service,
    const char *method, const uint8_t *payload, size_t n)
{
	size_t sl = strlen(service), ml = strlen(method), len = 0;
	uint8_t *buf;
	int rc;

	if ((buf = malloc(sl + ml + n + 3 * 11)) == NULL)
		return -1;
	len += put_len(buf + len, 1, service, sl);
	len += put_len(buf + len, 2, method, ml);
	if (n > 0)
		len += put_len(buf + len, 3, payload, n);
	rc = chan_send_frame(ch, CHAN_T_REQUEST, 0, sid, buf, len);
	free(buf);
	return rc;
}

int
chan_rpc_send_response(struct chan *ch, uint32_t sid, int32_t code,
    const char *msg, const uint8_t *payload, size_t n)
{
	size_t ml = msg != NULL ? strlen(msg) : 0, len = 0, sl = 0;
	uint8_t *buf, status[11 + 11 + 1024 + 2];
	int rc;

	if (ml > 1024)
		ml = 1024;
	if (code != 0) {
		sl += put_varint(status + sl, 1 << 3 | 0);
		sl += put_varint(status + sl, (uint64_t)(int64_t)code);
		if (ml > 0)
			sl += put_len(status + sl, 2, msg, ml);
	}
	if ((buf = malloc(sl + n + 2 * 11)) == NULL)
		return -1;
	if (sl > 0)
		len += put_len(buf + len, 1, status, sl);
	if (n > 0)
		len += put_len(buf + len, 2, payload, n);
	rc = chan_send_frame(ch, CHAN_T_RESPONSE, 0, sid, buf, len);
	free(buf);
	return rc;
}
