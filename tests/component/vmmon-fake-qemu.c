/*
 * Test-only: a hostile "QEMU" for tests/component/41-vmmon-hostile-qmp.sh.
 * vmmon execs it (-q) like QEMU, in the jail and under the QEMU seccomp
 * filter, with the QMP socket on fd 3. It completes the QMP handshake, then
 * misbehaves as named by its -name argument ("qemubox-<mode>"):
 *   garbage   a line that is not JSON
 *   endless   2 MiB without a newline
 *   unknownid a reply to a command never sent
 *   deaf      ignores every command (powerdown, quit) and stays up
 *   fail      says why on stderr and exits 1 before the greeting
 * Built static: the jail holds no shell and no libraries it did not need.
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void
say(const char *s)
{
	size_t off = 0, len = strlen(s);
	ssize_t n;

	while (off < len) {
		if ((n = write(3, s + off, len - off)) <= 0)
			_exit(1);
		off += (size_t)n;
	}
}

/* Reads one command line; its "id" value, or -1 on EOF. */
static long
read_cmd(void)
{
	static char buf[65536];
	static size_t len;
	char *nl, *id;
	long v;
	ssize_t n;

	for (;;) {
		if ((nl = memchr(buf, '\n', len)) != NULL) {
			*nl = '\0';
			id = strstr(buf, "\"id\":");
			v = id ? strtol(id + 5, NULL, 10) : 0;
			len -= (size_t)(nl + 1 - buf);
			memmove(buf, nl + 1, len);
			return v;
		}
		if (len == sizeof(buf))
			len = 0;
		if ((n = read(3, buf + len, sizeof(buf) - len)) <= 0)
			return -1;
		len += (size_t)n;
	}
}

int
main(int argc, char *argv[])
{
	const char *mode = "deaf";
	char line[128];
	long id;
	int i;

	for (i = 1; i + 1 < argc; i++)
		if (strcmp(argv[i], "-name") == 0 &&
		    strncmp(argv[i + 1], "qemubox-", 8) == 0)
			mode = argv[i + 1] + 8;
	if (strcmp(mode, "fail") == 0) {
		fprintf(stderr, "fake-qemu: warming up\n"
		                "fake-qemu: -drive id=disk0: Could not open "
		                "'/dev/fdset/1': Permission denied\n");
		return 1;
	}
	say("{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 2, "
	    "\"major\": 7}, \"package\": \"fake\"}, \"capabilities\": "
	    "[]}}\r\n");
	if ((id = read_cmd()) < 0)
		return 1;
	snprintf(line, sizeof(line), "{\"return\": {}, \"id\": %ld}\r\n", id);
	say(line);
	if (strcmp(mode, "garbage") == 0)
		say("this is not json\r\n");
	else if (strcmp(mode, "endless") == 0) {
		static char chunk[65536];

		memset(chunk, 'x', sizeof(chunk));
		say("{\"event\": \"");
		for (i = 0; i < 32; i++)
			if (write(3, chunk, sizeof(chunk)) <= 0)
				break;
	} else if (strcmp(mode, "unknownid") == 0)
		say("{\"return\": {}, \"id\": 999}\r\n");
	/* Then deaf: read and ignore until killed. */
	while (read_cmd() >= 0)
		;
	for (;;)
		pause();
}
