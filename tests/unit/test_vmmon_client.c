/*
 * shim/vmmon_client against a fake vmmon on the same event loop: answers
 * matched by peerid, IMSG_ERROR mapped to qb_error, a VM start sends each fd
 * (really the caller's file) before the START, events reach their
 * callbacks, and a vmmon that answers with the wrong size or goes away
 * fails the pending requests and reports "lost".
 */
#include <sys/socket.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "imsg/imsg.h"
#include "lib/evloop.h"
#include "shim/vmmon_client.h"

enum fake_mode { FAKE_OK, FAKE_ERROR, FAKE_BADSIZE, FAKE_CLOSE };

struct fx {
	struct evloop *loop;
	struct vmmon_client *c;
	struct imsgbuf fake;
	struct ev_io *fake_io;
	enum fake_mode mode;
	int nfds;
	uint32_t roles[32];
	struct stat fd_st[32];
	int lost, exits;
	struct qb_vmm_exit_evt exit_ev;
};

static void
fake_send(struct fx *f, uint32_t type, uint32_t id, const void *d, size_t n)
{
	if (imsg_compose(&f->fake, type, id, 0, -1, d, n) == -1 ||
	    imsg_flush(&f->fake) == -1)
		fail_msg("fake vmmon: send: %s", strerror(errno));
}

static void
fake_answer(struct fx *f, uint32_t type, uint32_t id)
{
	struct qb_vmm_status_res st = {.running = 1, .status = "running"};
	struct qb_vmm_start_res sr = {.pid = 4242, .machine = 1, .accel = 2};
	struct qb_vmm_cpu_res cr = {.present = 2, .max = 4, .dev_id = "c1"};
	struct qb_imsg_error e = {.req_type = type,
	    .code = QB_E_PRECONDITION,
	    .msg = "the VM is not running"};

	switch (f->mode) {
	case FAKE_ERROR:
		fake_send(f, IMSG_ERROR, id, &e, sizeof(e));
		return;
	case FAKE_BADSIZE:
		fake_send(f, type + 1, id, &st, 3);
		return;
	case FAKE_CLOSE:
		evloop_io_del(f->fake_io);
		f->fake_io = NULL;
		close(f->fake.fd);
		return;
	case FAKE_OK:
		break;
	}
	switch (type) {
	case IMSG_VMM_STATUS_REQ:
		fake_send(f, IMSG_VMM_STATUS_RES, id, &st, sizeof(st));
		break;
	case IMSG_VMM_START_REQ:
		fake_send(f, IMSG_VMM_START_RES, id, &sr, sizeof(sr));
		break;
	case IMSG_VMM_PAUSE_REQ:
		fake_send(f, IMSG_VMM_PAUSE_RES, id, NULL, 0);
		break;
	case IMSG_VMM_CPU_ADD_REQ:
		fake_send(f, IMSG_VMM_CPU_RES, id, &cr, sizeof(cr));
		break;
	}
}

static void
fake_io(struct ev_io *io, int fd, unsigned ev, void *arg)
{
	struct fx *f = arg;
	struct imsg imsg;
	struct qb_vmm_fd vf;
	ssize_t n;
	int rfd;

	(void)io;
	(void)fd;
	(void)ev;
	n = imsg_read(&f->fake);
	if (n <= 0 && errno != EAGAIN)
		return;
	while (f->fake_io != NULL && (n = imsg_get(&f->fake, &imsg)) > 0) {
		if (imsg_get_type(&imsg) == IMSG_VMM_FD_REQ) {
			assert_int_equal(
			    qb_imsg_get_struct(&imsg, &vf, sizeof(vf)), 0);
			rfd = qb_imsg_take_fd(&imsg);
			assert_true(rfd >= 0);
			f->roles[f->nfds] = vf.role;
			assert_int_equal(fstat(rfd, &f->fd_st[f->nfds]), 0);
			f->nfds++;
			close(rfd);
		} else
			fake_answer(
			    f, imsg_get_type(&imsg), imsg_get_id(&imsg));
		imsg_free(&imsg);
	}
}

static void
on_exit_evt(void *arg, const struct qb_vmm_exit_evt *ev)
{
	struct fx *f = arg;

	f->exits++;
	f->exit_ev = *ev;
}

static void
on_lost(void *arg)
{
	((struct fx *)arg)->lost++;
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct vmmon_events ev = {on_exit_evt, NULL, on_lost, NULL};
	int sp[2];

	if (f == NULL ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sp) == -1)
		return -1;
	ev.arg = f;
	f->loop = evloop_new();
	imsg_init(&f->fake, sp[1]);
	f->fake_io = evloop_io_add(f->loop, sp[1], EV_READ, fake_io, f);
	f->c = vmmon_client_new(f->loop, sp[0], &ev);
	*state = f;
	return f->c == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	vmmon_client_free(f->c);
	if (f->fake_io != NULL) {
		evloop_io_del(f->fake_io);
		close(f->fake.fd);
	}
	imsg_clear(&f->fake);
	evloop_free(f->loop);
	free(f);
	return 0;
}

static void
test_status(void **state)
{
	struct fx *f = *state;
	struct qb_vmm_status_res res;
	struct qb_error err = {0};

	if (vmmon_vm_status(f->c, &res, &err) != 0)
		fail_msg("status: %s", err.msg);
	assert_int_equal(res.running, 1);
	assert_string_equal(res.status, "running");
	assert_int_equal(vmmon_vm_pause(f->c, &err), 0);
}

static void
test_error_maps_to_qb_error(void **state)
{
	struct fx *f = *state;
	struct qb_vmm_cpu_res res;
	struct qb_error err = {0};

	f->mode = FAKE_ERROR;
	assert_int_equal(vmmon_cpu_add(f->c, &res, &err), -1);
	assert_int_equal(err.code, QB_E_PRECONDITION);
	assert_string_equal(err.msg, "the VM is not running");
	assert_int_equal(f->lost, 0);
}

static void
test_start_sends_fds_then_start(void **state)
{
	struct fx *f = *state;
	struct vm_start_params p;
	struct qb_vmm_start_res res;
	struct qb_error err = {0};
	struct stat st;
	int k = open("/dev/null", O_RDONLY), ch[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, ch), 0);
	memset(&p, 0, sizeof(p));
	p.id = "ctr-1";
	p.boot_cpus = p.max_cpus = 1;
	p.memory_mb = 256;
	p.transport = QB_VMM_TRANSPORT_VIRTIO_SERIAL;
	p.kernel_fd = k;
	p.initrd_fd = k;
	p.channel_fd = ch[1];
	p.console_log_fd = -1;
	p.tap_fd = -1;
	p.vhost_vsock_fd = -1;
	p.ndisks = 2;
	p.disks[0].fd = k;
	p.disks[0].readonly = true;
	p.disks[0].serial = "layer0";
	p.disks[1].fd = k;
	assert_int_equal(vmmon_vm_start(f->c, &p, &res, &err), 0);
	assert_int_equal(res.pid, 4242);
	/* kernel, initrd, channel, disk 0, disk 1, and each is our file. */
	assert_int_equal(f->nfds, 5);
	assert_int_equal(f->roles[0], QB_VMM_FD_KERNEL);
	assert_int_equal(f->roles[2], QB_VMM_FD_CHANNEL);
	assert_int_equal(f->roles[4], QB_VMM_FD_DISK);
	assert_int_equal(fstat(k, &st), 0);
	assert_int_equal(f->fd_st[0].st_ino, st.st_ino);
	assert_int_equal(fstat(ch[1], &st), 0);
	assert_int_equal(f->fd_st[2].st_ino, st.st_ino);
	/* The caller's fds are still its own. */
	assert_true(fcntl(k, F_GETFD) != -1);
	close(k);
	close(ch[0]);
	close(ch[1]);

	p.disks[0].serial = "this-serial-is-longer-than-20";
	assert_int_equal(vmmon_vm_start(f->c, &p, &res, &err), -1);
	assert_int_equal(err.code, QB_E_INVALID);
}

static void
test_bad_size_is_lost(void **state)
{
	struct fx *f = *state;
	struct qb_vmm_status_res res;
	struct qb_error err = {0};

	f->mode = FAKE_BADSIZE;
	assert_int_equal(vmmon_vm_status(f->c, &res, &err), -1);
	assert_int_equal(f->lost, 1);
	assert_int_equal(vmmon_vm_status(f->c, &res, &err), -1);
	assert_int_equal(err.code, QB_E_UNAVAILABLE);
}

static void
test_close_is_lost(void **state)
{
	struct fx *f = *state;
	struct qb_error err = {0};

	f->mode = FAKE_CLOSE;
	assert_int_equal(vmmon_vm_pause(f->c, &err), -1);
	assert_int_equal(err.code, QB_E_UNAVAILABLE);
	assert_int_equal(f->lost, 1);
}

static void
test_exit_event(void **state)
{
	struct fx *f = *state;
	struct qb_vmm_exit_evt ev = {.pid = 7,
	    .exit_status = 0,
	    .reason = QB_VMM_EXIT_GUEST_SHUTDOWN,
	    .detail = "guest-shutdown"};

	fake_send(f, IMSG_VMM_EXIT_EVT, 0, &ev, sizeof(ev));
	while (f->exits == 0)
		assert_true(evloop_run_once(f->loop, 1000) >= 0);
	assert_int_equal(f->exit_ev.pid, 7);
	assert_string_equal(f->exit_ev.detail, "guest-shutdown");
	/* An unterminated detail is a protocol violation. */
	memset(ev.detail, 'x', sizeof(ev.detail));
	fake_send(f, IMSG_VMM_EXIT_EVT, 0, &ev, sizeof(ev));
	while (f->lost == 0)
		assert_true(evloop_run_once(f->loop, 1000) >= 0);
	assert_int_equal(f->exits, 1);
}

int
main(void)
{
#define T(x) cmocka_unit_test_setup_teardown(x, setup, teardown)
	const struct CMUnitTest tests[] = {
	    T(test_status),
	    T(test_error_maps_to_qb_error),
	    T(test_start_sends_fds_then_start),
	    T(test_bad_size_is_lost),
	    T(test_close_is_lost),
	    T(test_exit_event),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
