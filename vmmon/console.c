/*
 * qemubox-vmmon: QEMU's output. The serial console is copied into the
 * console.log fd the shim gave (capped; drained past the cap so a chatty
 * guest never blocks, and written again once the shim rotated the file);
 * QEMU's stderr is relayed to ours and its last line kept for the START
 * error.
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lib/log.h"
#include "vmmon/vmmon.h"

/* ---- console relay ---- */

#define CONSOLE_CHUNK 16384

static ssize_t
console_read_once(void)
{
	static const char marker[] =
	    "\n[qemubox: console.log size cap reached, output dropped until "
	    "it is rotated]\n";
	char buf[CONSOLE_CHUNK];
	struct stat st;
	ssize_t n, w;
	size_t len, off;

	n = read(vmmon.vm.con_fd, buf, sizeof(buf));
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n <= 0) {
		close(vmmon.vm.con_fd);
		vmmon.vm.con_fd = -1;
		return 0;
	}
	/*
	 * Keep draining past the cap so a chatty guest never blocks. The
	 * shim answers CONSOLE_TRUNCATED by rotating: it copies the file away
	 * and empties it (we cannot open another file), and we write on.
	 */
	if (vmmon.vm.log_fd == -1)
		return n;
	if (vmmon.vm.log_truncated) {
		if (fstat(vmmon.vm.log_fd, &st) == -1 || st.st_size != 0)
			return n;
		vmmon.vm.log_truncated = false;
		vmmon.vm.log_written = 0;
	}
	len = (size_t)n;
	if (vmmon.vm.log_written + len > vmmon.vm.log_max)
		len = (size_t)(vmmon.vm.log_max - vmmon.vm.log_written);
	for (off = 0; off < len; off += (size_t)w) {
		w = write(vmmon.vm.log_fd, buf + off, len - off);
		if (w == -1) {
			if (errno == EINTR) {
				w = 0;
				continue;
			}
			log_warn("%s: console.log", __func__);
			close(vmmon.vm.log_fd);
			vmmon.vm.log_fd = -1;
			return n;
		}
	}
	vmmon.vm.log_written += len;
	if (len < (size_t)n) {
		vmmon.vm.log_truncated = true;
		if (write(vmmon.vm.log_fd, marker, sizeof(marker) - 1) < 0)
			log_warn("%s: console.log", __func__);
		send_guest_evt(QB_VMM_GUEST_EVT_CONSOLE_TRUNCATED, "");
	}
	return n;
}

/* What the socket holds now: a full chunk means there may be more. */
void
console_read(void)
{
	while (vmmon.vm.con_fd != -1 && console_read_once() == CONSOLE_CHUNK)
		;
}

/* ---- QEMU's stderr ---- */

/*
 * Relayed to our stderr (the shim's log) and its last line kept, so a QEMU
 * that fails to start is quoted in the START error. Bytes read, 0 at EOF.
 */
ssize_t
qemu_stderr_read(void)
{
	char buf[4096], *start, *nl;
	ssize_t n;
	size_t len;

	n = read(vmmon.err_fd, buf, sizeof(buf) - 1);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return -1;
	if (n <= 0) {
		close(vmmon.err_fd);
		vmmon.err_fd = -1;
		return 0;
	}
	if (write(STDERR_FILENO, buf, (size_t)n) < 0) {
		/* the log is best effort */
	}
	buf[n] = '\0';
	/* The last non-empty line, printable bytes only. */
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	if (n == 0)
		return 1;
	start = buf;
	if ((nl = strrchr(buf, '\n')) != NULL)
		start = nl + 1;
	for (len = 0; start[len] != '\0'; len++)
		if ((unsigned char)start[len] < 0x20 ||
		    (unsigned char)start[len] > 0x7e)
			start[len] = '?';
	snprintf(vmmon.err_tail, sizeof(vmmon.err_tail), "%.255s", start);
	return 1;
}
