/*
 * guest/pid1: the kernel command line parser and the tree copy that moves
 * the root off the initramfs (run here on a scratch directory).
 */
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "guest/pid1.h"

static void
test_cmdline_defaults(void **state)
{
	char line[] = "console=ttyS0 quiet panic=-1 tsc_early_khz=2500000\n";
	struct pid1_cmdline c;

	(void)state;
	pid1_cmdline_parse(line, &c);
	assert_int_equal(c.transport, PID1_TRANSPORT_VIRTIO_SERIAL);
	assert_string_equal(c.port, "qemubox.0");
	assert_int_equal(c.vsock_port, 1024);
	assert_int_equal(c.chan_timeout_ms, 10000);
	assert_string_equal(c.hostname, "qemubox");
	assert_int_equal(c.debug, 0);
	/* No qemubox.modules=: every group (a guest booted by hand). */
	assert_int_equal(c.modules_given, 0);
	assert_int_equal(pid1_modules_want(&c, "scsi"), 1);
	assert_int_equal(pid1_modules_want(&c, ""), 1);
}

static void
test_cmdline_modules(void **state)
{
	char line[] = "qemubox.modules=scsi,fs panic=1\n";
	char none[] = "qemubox.modules= panic=1\n";
	struct pid1_cmdline c;

	(void)state;
	pid1_cmdline_parse(line, &c);
	assert_int_equal(c.modules_given, 1);
	assert_int_equal(pid1_modules_want(&c, ""), 1);
	assert_int_equal(pid1_modules_want(&c, "scsi"), 1);
	assert_int_equal(pid1_modules_want(&c, "fs"), 1);
	assert_int_equal(pid1_modules_want(&c, "vsock"), 0);
	/* Whole names only. */
	assert_int_equal(pid1_modules_want(&c, "sc"), 0);
	assert_int_equal(pid1_modules_want(&c, "fsx"), 0);
	pid1_cmdline_parse(none, &c);
	assert_int_equal(c.modules_given, 1);
	assert_int_equal(pid1_modules_want(&c, ""), 1);
	assert_int_equal(pid1_modules_want(&c, "fs"), 0);
	assert_int_equal(pid1_modules_want(&c, "scsi"), 0);
}

static void
test_cmdline_values(void **state)
{
	char line[] =
	    "quiet qemubox.transport=vsock qemubox.vsock_port=2000 "
	    "qemubox.port=other.1 qemubox.hostname=box1 qemubox.debug=1 "
	    "qemubox.chan_timeout_ms=500 "
	    "page_reporting.page_reporting_order=5\n";
	struct pid1_cmdline c;

	(void)state;
	pid1_cmdline_parse(line, &c);
	assert_int_equal(c.transport, PID1_TRANSPORT_VSOCK);
	assert_int_equal(c.vsock_port, 2000);
	assert_string_equal(c.port, "other.1");
	assert_string_equal(c.hostname, "box1");
	assert_int_equal(c.debug, 1);
	assert_int_equal(c.chan_timeout_ms, 500);
	assert_int_equal(c.page_reporting_order, 5);
}

static void
test_cmdline_bad_values_keep_defaults(void **state)
{
	char line[400];
	struct pid1_cmdline c;

	(void)state;
	snprintf(line, sizeof(line),
	    "qemubox.transport=carrier-pigeon "
	    "qemubox.vsock_port=12x qemubox.chan_timeout_ms=99999999999 "
	    "qemubox.hostname=%0100d qemubox.port= qemubox.debug=0 "
	    "page_reporting.page_reporting_order=11",
	    7);
	pid1_cmdline_parse(line, &c);
	assert_int_equal(c.transport, PID1_TRANSPORT_VIRTIO_SERIAL);
	assert_int_equal(c.vsock_port, 1024);
	assert_int_equal(c.chan_timeout_ms, 10000);
	assert_string_equal(c.hostname, "qemubox");
	assert_string_equal(c.port, "qemubox.0");
	assert_int_equal(c.debug, 0);
	assert_int_equal(c.page_reporting_order, 0);
}

static void
pjoin(char *out, const char *a, const char *b)
{
	int n = snprintf(out, PATH_MAX, "%s/%s", a, b);

	assert_true(n > 0 && n < PATH_MAX);
}

static void
put(const char *dir, const char *name, const char *text, mode_t mode)
{
	char p[PATH_MAX];
	int fd;

	pjoin(p, dir, name);
	fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static void
test_copy_tree_moves_everything(void **state)
{
	char base[PATH_MAX], src[PATH_MAX], dst[PATH_MAX];
	const char *tmpdir = getenv("TMPDIR");
	char p[PATH_MAX], buf[64];
	struct stat st;
	int s, d, fd, entries = 0;
	ssize_t n;
	mode_t old;
	ino_t keep;

	(void)state;
	old = umask(0);
	pjoin(base, tmpdir != NULL && *tmpdir != '\0' ? tmpdir : "/tmp",
	    "test_pid1.XXXXXX");
	assert_non_null(mkdtemp(base));
	pjoin(src, base, "src");
	pjoin(dst, base, "dst");
	assert_int_equal(mkdir(src, 0755), 0);
	assert_int_equal(mkdir(dst, 0755), 0);
	put(src, "init", "#!vminitd", 0755);
	pjoin(p, src, "lib");
	assert_int_equal(mkdir(p, 0711), 0);
	pjoin(p, src, "lib/deep");
	assert_int_equal(mkdir(p, 0700), 0);
	put(p, "mod.ko", "module bytes", 0640);
	pjoin(p, src, "lib64");
	assert_int_equal(symlink("lib", p), 0);
	pjoin(p, src, "fifo");
	assert_int_equal(mkfifo(p, 0620), 0);
	/* The directory to keep (the initramfs' /lib/modules) stays. */
	pjoin(p, src, "lib/modules");
	assert_int_equal(mkdir(p, 0755), 0);
	assert_int_equal(lstat(p, &st), 0);
	keep = st.st_ino;
	put(p, "x.ko", "kept", 0644);

	s = open(src, O_RDONLY | O_DIRECTORY);
	d = open(dst, O_RDONLY | O_DIRECTORY);
	assert_true(s >= 0 && d >= 0);
	assert_int_equal(pid1_copy_tree(s, d, keep), 0);
	pjoin(p, dst, "lib/modules");
	assert_int_equal(lstat(p, &st), -1);
	pjoin(p, src, "lib/modules/x.ko");
	assert_int_equal(lstat(p, &st), 0);

	pjoin(p, dst, "init");
	assert_int_equal(lstat(p, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0755);
	pjoin(p, dst, "lib");
	assert_int_equal(lstat(p, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0711);
	pjoin(p, dst, "lib/deep/mod.ko");
	assert_int_equal(lstat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);
	fd = open(p, O_RDONLY);
	assert_true(fd >= 0);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	assert_int_equal(n, 12);
	buf[n] = '\0';
	assert_string_equal(buf, "module bytes");
	pjoin(p, dst, "lib64");
	n = readlink(p, buf, sizeof(buf) - 1);
	assert_int_equal(n, 3);
	buf[n] = '\0';
	assert_string_equal(buf, "lib");
	pjoin(p, dst, "fifo");
	assert_int_equal(lstat(p, &st), 0);
	assert_true(S_ISFIFO(st.st_mode));

	/* The source is emptied as it goes (the initramfs memory is freed),
	 * all but the kept directory. */
	{
		char cmd[PATH_MAX + 32];
		FILE *f;

		assert_true(
		    snprintf(cmd, sizeof(cmd), "cd '%s' && find . | sort",
		        src) < (int)sizeof(cmd));
		f = popen(cmd, "r");
		assert_non_null(f);
		while (fgets(buf, sizeof(buf), f) != NULL) {
			buf[strcspn(buf, "\n")] = '\0';
			assert_true(strcmp(buf, ".") == 0 ||
			            strcmp(buf, "./lib") == 0 ||
			            strcmp(buf, "./lib/modules") == 0 ||
			            strcmp(buf, "./lib/modules/x.ko") == 0);
			entries++;
		}
		pclose(f);
	}
	assert_int_equal(entries, 4);

	close(s);
	close(d);
	assert_true(
	    snprintf(p, sizeof(p), "rm -rf '%s'", base) < (int)sizeof(p));
	assert_int_equal(system(p), 0);
	umask(old);
}

struct exits {
	pid_t pid[4];
	int code[4];
	int n;
};

static void
on_exit_cb(pid_t pid, int wstatus, void *arg)
{
	struct exits *e = arg;

	assert_true(e->n < 4);
	e->pid[e->n] = pid;
	e->code[e->n] =
	    WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
	e->n++;
}

/* Every exited child is reported once, with its status; none is left. */
static void
test_reap_reports_every_child(void **state)
{
	struct exits e = {.n = 0};
	pid_t kids[3];
	int i, j, total = 0, found;

	(void)state;
	for (i = 0; i < 3; i++) {
		kids[i] = fork();
		assert_true(kids[i] >= 0);
		if (kids[i] == 0) {
			if (i == 2)
				raise(SIGKILL);
			_exit(40 + i);
		}
	}
	/* Children exit at their own pace: reap until all three are seen. */
	for (i = 0; i < 500 && total < 3; i++) {
		int n = pid1_reap(on_exit_cb, &e);

		assert_true(n >= 0);
		total += n;
		if (total < 3)
			usleep(10000);
	}
	assert_int_equal(total, 3);
	assert_int_equal(e.n, 3);
	for (i = 0; i < 3; i++) {
		found = 0;
		for (j = 0; j < 3; j++)
			if (e.pid[j] == kids[i]) {
				found = 1;
				assert_int_equal(
				    e.code[j], i == 2 ? 128 + SIGKILL : 40 + i);
			}
		assert_true(found);
	}
	/* Nothing left: ECHILD counts as "none", not as an error. */
	assert_int_equal(pid1_reap(on_exit_cb, &e), 0);
	assert_int_equal(e.n, 3);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cmdline_defaults),
	    cmocka_unit_test(test_cmdline_values),
	    cmocka_unit_test(test_cmdline_modules),
	    cmocka_unit_test(test_cmdline_bad_values_keep_defaults),
	    cmocka_unit_test(test_copy_tree_moves_everything),
	    cmocka_unit_test(test_reap_reports_every_child),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
