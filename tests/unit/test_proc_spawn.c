/*
 * proc_spawn: the child sees exactly fds 0-2 plus the kept one, stdin is
 * /dev/null, signals are unblocked, and exec failures come back as errno.
 */
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/proc_spawn.h"

/*
 * Starts `sleep` with sv[1] as fd `keep`. proc_spawn returns only after the
 * exec, and sleep opens nothing that stays open, so what /proc shows of it
 * is exactly what proc_spawn left.
 */
struct child {
	pid_t pid;
	int sock;
};

/*
 * The dynamic loader opens and closes libraries right after exec; wait
 * until sleep sits in (clock_)nanosleep so its fd table is final.
 */
static void
child_wait_asleep(struct child *c)
{
	char path[64];
	FILE *f;
	long nr;
	int i;

	snprintf(path, sizeof(path), "/proc/%d/syscall", (int)c->pid);
	for (i = 0; i < 500; i++) {
		nr = -1;
		if ((f = fopen(path, "r")) != NULL) {
			if (fscanf(f, "%ld", &nr) != 1)
				nr = -1;
			fclose(f);
		}
		if (nr == SYS_nanosleep || nr == SYS_clock_nanosleep)
			return;
		usleep(10000);
	}
	fail_msg("sleep did not reach nanosleep in 5s");
}

static void
child_start(struct child *c, int keep, int use_same_number)
{
	char *argv[] = {"sleep", "60", NULL};
	int sv[2], child_fd;

	assert_int_equal(
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	child_fd = sv[1];
	if (use_same_number) {
		assert_int_equal(dup3(sv[1], keep, O_CLOEXEC), keep);
		close(sv[1]);
		child_fd = keep;
	}
	c->pid = proc_spawn("/bin/sleep", argv, child_fd, keep);
	assert_true(c->pid > 0);
	close(child_fd);
	c->sock = sv[0];
	child_wait_asleep(c);
}

static void
child_finish(struct child *c)
{
	int status;

	close(c->sock);
	assert_int_equal(kill(c->pid, SIGKILL), 0);
	assert_int_equal(waitpid(c->pid, &status, 0), c->pid);
	assert_true(WIFSIGNALED(status));
}

/* The child's open fds, as "0 1 2 3". */
static void
child_fds(struct child *c, char *out, size_t outlen)
{
	char path[64];
	struct dirent **names;
	int i, n;
	size_t off = 0;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)c->pid);
	n = scandir(path, &names, NULL, versionsort);
	assert_true(n >= 0);
	out[0] = '\0';
	for (i = 0; i < n; i++) {
		if (names[i]->d_name[0] != '.')
			off += (size_t)snprintf(out + off, outlen - off, "%s%s",
			    off ? " " : "", names[i]->d_name);
		free(names[i]);
	}
	free(names);
}

static void
child_status_line(struct child *c, const char *key, char *out, size_t outlen)
{
	char path[64], line[256];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)c->pid);
	assert_non_null(f = fopen(path, "r"));
	out[0] = '\0';
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, key, strlen(key)) == 0)
			snprintf(out, outlen, "%s", line);
	fclose(f);
}

static void
test_only_kept_fd(void **state)
{
	struct child c;
	char out[256];
	int leak, leak_cloexec;

	(void)state;
	/* Neither a plain nor a close-on-exec fd of ours may reach the child.
	 */
	leak = fcntl(0, F_DUPFD, 40);
	if (leak == -1)
		leak = open("/dev/null", O_RDONLY);
	assert_true(leak >= 0);
	leak_cloexec = fcntl(leak, F_DUPFD_CLOEXEC, 50);
	assert_true(leak_cloexec >= 0);

	child_start(&c, 3, 0);
	child_fds(&c, out, sizeof(out));
	child_finish(&c);
	assert_string_equal(out, "0 1 2 3");
	close(leak);
	close(leak_cloexec);
}

static void
test_other_number(void **state)
{
	struct child c;
	char out[256];

	(void)state;
	child_start(&c, 7, 0);
	child_fds(&c, out, sizeof(out));
	child_finish(&c);
	assert_string_equal(out, "0 1 2 7");
	/* child_fd already has the wanted number (and is close-on-exec). */
	child_start(&c, 9, 1);
	child_fds(&c, out, sizeof(out));
	child_finish(&c);
	assert_string_equal(out, "0 1 2 9");
}

/*
 * "SigIgn:\t<hex>" as a mask, without glibc's internal signals (32 up to
 * SIGRTMIN): libc refuses to touch them, and whatever state they are in,
 * the new program's libc installs its own handlers.
 */
static unsigned long long
sigmask_of(const char *line)
{
	unsigned long long m;
	int sig;

	assert_int_equal(sscanf(line, "%*s %llx", &m), 1);
	for (sig = 32; sig < SIGRTMIN; sig++)
		m &= ~(1ULL << (sig - 1));
	return m;
}

static void
test_stdin_devnull_and_signals(void **state)
{
	struct child c;
	char path[64], link[256], blk[256], ign[256];
	sigset_t set, old;
	ssize_t n;

	(void)state;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGUSR1);
	assert_int_equal(sigprocmask(SIG_BLOCK, &set, &old), 0);
	signal(SIGHUP, SIG_IGN);
	child_start(&c, 3, 0);
	assert_int_equal(sigprocmask(SIG_SETMASK, &old, NULL), 0);
	signal(SIGHUP, SIG_DFL);

	snprintf(path, sizeof(path), "/proc/%d/fd/0", (int)c.pid);
	n = readlink(path, link, sizeof(link) - 1);
	assert_true(n > 0);
	link[n] = '\0';
	child_status_line(&c, "SigBlk:", blk, sizeof(blk));
	child_status_line(&c, "SigIgn:", ign, sizeof(ign));
	child_finish(&c);
	assert_string_equal(link, "/dev/null");
	assert_int_equal(sigmask_of(blk), 0);
	assert_int_equal(sigmask_of(ign), 0);
}

static void
test_kept_fd_is_the_channel(void **state)
{
	char *argv[] = {"sh", "-c", "echo hi >&5", NULL};
	char buf[8];
	int sv[2], status;
	pid_t pid;

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_true((pid = proc_spawn("/bin/sh", argv, sv[1], 5)) > 0);
	close(sv[1]);
	assert_int_equal(read(sv[0], buf, sizeof(buf)), 3);
	assert_memory_equal(buf, "hi\n", 3);
	assert_int_equal(read(sv[0], buf, sizeof(buf)), 0);
	close(sv[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void
test_exec_failure(void **state)
{
	char *argv[] = {"nope", NULL};
	int sv[2];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(proc_spawn("/nonexistent/helper", argv, sv[1], 3), -1);
	assert_int_equal(errno, ENOENT);
	/* /dev/null is not executable. */
	assert_int_equal(proc_spawn("/dev/null", argv, sv[1], 3), -1);
	assert_int_equal(errno, EACCES);
	/* Bad arguments: keeping the fd as stdin/stdout/stderr is refused. */
	assert_int_equal(proc_spawn("/bin/true", argv, sv[1], 2), -1);
	assert_int_equal(errno, EINVAL);
	close(sv[0]);
	close(sv[1]);
	/* No child left behind. */
	assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_only_kept_fd),
	    cmocka_unit_test(test_other_number),
	    cmocka_unit_test(test_stdin_devnull_and_signals),
	    cmocka_unit_test(test_kept_fd_is_the_channel),
	    cmocka_unit_test(test_exec_failure),
	};

	return cmocka_run_group_tests_name("proc_spawn", tests, NULL, NULL);
}
