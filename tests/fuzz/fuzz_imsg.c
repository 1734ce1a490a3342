/*
 * libFuzzer target for the imsg reader: bytes a peer could send, fed into
 * the read buffer in chunks (so framing across reads is exercised), then
 * every message is cut and passed through the typed readers.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "imsg/imsg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
consume(struct imsg *imsg)
{
	char str[256];
	unsigned char fixed[24];
	struct ibuf view;
	uint32_t v;
	int fd;

	(void)imsg_get_type(imsg);
	(void)imsg_get_id(imsg);
	(void)imsg_get_pid(imsg);
	(void)qb_imsg_get_str(imsg, str, sizeof(str));
	(void)qb_imsg_get_struct(imsg, fixed, sizeof(fixed));
	if (qb_imsg_get_struct(imsg, &v, sizeof(v)) == 0)
		(void)qb_imsg_check_strfield((const char *)fixed, 0);
	if (imsg_get_ibuf(imsg, &view) == 0)
		while (ibuf_get_n32(&view, &v) == 0)
			;
	if ((fd = imsg_get_fd(imsg)) != -1)
		close(fd);
	imsg_free(imsg);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct imsgbuf ib;
	struct imsg imsg;
	size_t chunk, n;
	ssize_t r;

	imsg_init(&ib, -1);
	if (size == 0)
		return 0;
	/* The first byte picks the read size: 1..256 bytes per "recvmsg". */
	chunk = (size_t)data[0] + 1;
	data++;
	size--;
	while (size > 0) {
		n = size < chunk ? size : chunk;
		if (n > sizeof(ib.r.buf) - ib.r.wpos)
			break;
		memcpy(ib.r.buf + ib.r.wpos, data, n);
		ib.r.wpos += n;
		data += n;
		size -= n;
		while ((r = imsg_get(&ib, &imsg)) > 0)
			consume(&imsg);
		if (r == -1)
			break; /* a real reader drops the connection here */
	}
	imsg_clear(&ib);
	return 0;
}
