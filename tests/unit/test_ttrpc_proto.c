/*
 * Golden encodings of the containerd messages: the expected bytes are built
 * by hand from the field numbers in WIRE.md (tag = field << 3 | wire type),
 * so a wrong field number or type in proto/ fails here.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "proto/cgroups_v2.pb-c.h"
#include "proto/events_task.pb-c.h"
#include "proto/events_ttrpc.pb-c.h"
#include "proto/task.pb-c.h"
#include "proto/ttrpc.pb-c.h"

static void
check_packed(const ProtobufCMessage *m, const uint8_t *want, size_t wantlen)
{
	size_t n = protobuf_c_message_get_packed_size(m);
	uint8_t *buf = malloc(n ? n : 1);

	assert_non_null(buf);
	assert_int_equal(n, wantlen);
	assert_int_equal(protobuf_c_message_pack(m, buf), wantlen);
	assert_memory_equal(buf, want, wantlen);
	free(buf);
}

static void
test_create_task_request(void **state)
{
	/* clang-format off */
	static const uint8_t want[] = {
		0x0a, 0x02, 'c', '1',		/* 1 id */
		0x12, 0x02, '/', 'b',		/* 2 bundle */
		0x1a, 0x0f,			/* 3 rootfs[0] Mount */
		0x0a, 0x05, 'e', 'r', 'o', 'f', 's', /* type */
		0x12, 0x02, '/', 'l',		/* source */
		0x22, 0x02, 'r', 'o',		/* options[0] */
		0x20, 0x01,			/* 4 terminal */
		0x32, 0x02, '/', 'o',		/* 6 stdout (5 stdin empty) */
		0x52, 0x20,			/* 10 options Any */
		0x0a, 0x19, 'r', 'u', 'n', 't', 'i', 'm', 'e', 'o', 'p', 't',
		'i', 'o', 'n', 's', '.', 'v', '1', '.', 'O', 'p', 't', 'i',
		'o', 'n', 's',
		0x12, 0x03, 0x12, 0x01, 'x',
	};
	/* clang-format on */
	Containerd__Task__V2__CreateTaskRequest req;
	Containerd__Types__Mount mnt, *mnts[1] = {&mnt};
	Google__Protobuf__Any opt;
	char *mopts[1] = {(char *)(uintptr_t) "ro"};
	uint8_t optval[] = {0x12, 0x01, 'x'};

	(void)state;
	containerd__task__v2__create_task_request__init(&req);
	containerd__types__mount__init(&mnt);
	google__protobuf__any__init(&opt);
	req.id = "c1";
	req.bundle = "/b";
	mnt.type = "erofs";
	mnt.source = "/l";
	mnt.n_options = 1;
	mnt.options = mopts;
	req.n_rootfs = 1;
	req.rootfs = mnts;
	req.terminal = 1;
	req.stdout = "/o";
	opt.type_url = "runtimeoptions.v1.Options";
	opt.value.data = optval;
	opt.value.len = sizeof(optval);
	req.options = &opt;
	check_packed(&req.base, want, sizeof(want));

	/* And back: an unknown field (99) from a newer containerd is skipped.
	 */
	{
		uint8_t in[sizeof(want) + 3];
		Containerd__Task__V2__CreateTaskRequest *r;
		memcpy(in, want, sizeof(want));
		in[sizeof(want)] = 0x98; /* tag 99, varint */
		in[sizeof(want) + 1] = 0x06;
		in[sizeof(want) + 2] = 0x01;
		r = containerd__task__v2__create_task_request__unpack(
		    NULL, sizeof(in), in);
		assert_non_null(r);
		assert_string_equal(r->id, "c1");
		assert_string_equal(r->rootfs[0]->options[0], "ro");
		assert_string_equal(r->stdin, "");
		assert_string_equal(
		    r->options->type_url, "runtimeoptions.v1.Options");
		containerd__task__v2__create_task_request__free_unpacked(
		    r, NULL);
	}
}

static void
test_delete_response(void **state)
{
	/* clang-format off */
	static const uint8_t want[] = {
		0x08, 0x2a,		/* 1 pid 42 */
		0x10, 0x89, 0x01,	/* 2 exit_status 137 */
		0x1a, 0x08,		/* 3 exited_at */
		0x08, 0x80, 0xe2, 0xcf, 0xaa, 0x06, /* seconds 1700000000 */
		0x10, 0x05,		/* nanos 5 */
	};
	/* clang-format on */
	Containerd__Task__V2__DeleteResponse resp;
	Google__Protobuf__Timestamp ts;

	(void)state;
	containerd__task__v2__delete_response__init(&resp);
	google__protobuf__timestamp__init(&ts);
	resp.pid = 42;
	resp.exit_status = 137;
	ts.seconds = 1700000000;
	ts.nanos = 5;
	resp.exited_at = &ts;
	check_packed(&resp.base, want, sizeof(want));
}

static void
test_negative_timestamp(void **state)
{
	/* The Go zero time containerd 1.6 sends in WaitResponse.exited_at. */
	/* clang-format off */
	static const uint8_t in[] = { 0x12, 0x0b, 0x08, 0x80, 0x92, 0xb8, 0xc3,
		0x98, 0xfe, 0xff, 0xff, 0xff, 0x01 };
	/* clang-format on */
	Containerd__Task__V2__WaitResponse *w;

	(void)state;
	w = containerd__task__v2__wait_response__unpack(NULL, sizeof(in), in);
	assert_non_null(w);
	assert_int_equal(w->exit_status, 0);
	assert_non_null(w->exited_at);
	assert_true(w->exited_at->seconds == -62135596800LL);
	check_packed(&w->base, in, sizeof(in));
	containerd__task__v2__wait_response__free_unpacked(w, NULL);
}

static void
test_task_exit(void **state)
{
	/* clang-format off */
	static const uint8_t want[] = {
		0x0a, 0x02, 'c', '1',	/* 1 container_id */
		0x12, 0x02, 'c', '1',	/* 2 id = container id for init */
		0x18, 0x07,		/* 3 pid */
		0x20, 0x8f, 0x01,	/* 4 exit_status 143 */
		0x2a, 0x02, 0x08, 0x01, /* 5 exited_at {seconds 1} */
	};
	/* clang-format on */
	Containerd__Events__TaskExit ev;
	Google__Protobuf__Timestamp ts;

	(void)state;
	containerd__events__task_exit__init(&ev);
	google__protobuf__timestamp__init(&ts);
	ev.container_id = "c1";
	ev.id = "c1";
	ev.pid = 7;
	ev.exit_status = 143;
	ts.seconds = 1;
	ev.exited_at = &ts;
	check_packed(&ev.base, want, sizeof(want));
}

static void
test_forward_envelope(void **state)
{
	/* clang-format off */
	static const uint8_t want[] = {
		0x0a, 0x28,			/* 1 envelope */
		0x0a, 0x02, 0x08, 0x02,		/* 1 timestamp {seconds 2} */
		0x12, 0x02, 'n', 's',		/* 2 namespace */
		0x1a, 0x0b, '/', 't', 'a', 's', 'k', 's', '/', 'e', 'x', 'i',
		't',				/* 3 topic */
		0x22, 0x11,			/* 4 event Any */
		0x0a, 0x0f, 'c', 'o', 'n', 't', 'a', 'i', 'n', 'e', 'r', 'd',
		'.', 'x', '.', 'E', 'v',
	};
	/* clang-format on */
	Containerd__Services__Events__Ttrpc__V1__ForwardRequest fr;
	Containerd__Services__Events__Ttrpc__V1__Envelope env;
	Google__Protobuf__Timestamp ts;
	Google__Protobuf__Any any;

	(void)state;
	containerd__services__events__ttrpc__v1__forward_request__init(&fr);
	containerd__services__events__ttrpc__v1__envelope__init(&env);
	google__protobuf__timestamp__init(&ts);
	google__protobuf__any__init(&any);
	ts.seconds = 2;
	env.timestamp = &ts;
	env.namespace_ = "ns";
	env.topic = "/tasks/exit";
	any.type_url = "containerd.x.Ev";
	env.event = &any;
	fr.envelope = &env;
	check_packed(&fr.base, want, sizeof(want));
}

static void
test_state_and_stats(void **state)
{
	/* StateResponse.status is enum field 4 (VARINT), STOPPED = 3;
	 * exec_id is field 11 (tag 0x5a). */
	/* clang-format off */
	static const uint8_t want_state[] = { 0x18, 0x09, 0x20, 0x03, 0x48,
		0x89, 0x01, 0x5a, 0x01, 'e' };
	/* clang-format on */
	/* cgroups v2 Metrics: memory is field 4, usage field 32 inside. */
	/* clang-format off */
	static const uint8_t want_metrics[] = { 0x0a, 0x02, 0x08, 0x03, 0x22,
		0x03, 0x80, 0x02, 0x07 };
	/* clang-format on */
	Containerd__Task__V2__StateResponse st;
	Io__Containerd__Cgroups__V2__Metrics m;
	Io__Containerd__Cgroups__V2__PidsStat pids;
	Io__Containerd__Cgroups__V2__MemoryStat mem;

	(void)state;
	containerd__task__v2__state_response__init(&st);
	st.pid = 9;
	st.status = CONTAINERD__V1__TYPES__STATUS__STOPPED;
	st.exit_status = 137;
	st.exec_id = "e";
	check_packed(&st.base, want_state, sizeof(want_state));

	io__containerd__cgroups__v2__metrics__init(&m);
	io__containerd__cgroups__v2__pids_stat__init(&pids);
	io__containerd__cgroups__v2__memory_stat__init(&mem);
	pids.current = 3;
	mem.usage = 7;
	m.pids = &pids;
	m.memory = &mem;
	check_packed(&m.base, want_metrics, sizeof(want_metrics));
}

static void
test_ttrpc_request_message(void **state)
{
	/* clang-format off */
	static const uint8_t want[] = {
		0x0a, 0x17, 'c', 'o', 'n', 't', 'a', 'i', 'n', 'e', 'r', 'd',
		'.', 't', 'a', 's', 'k', '.', 'v', '2', '.', 'T', 'a', 's',
		'k',				/* 1 service */
		0x12, 0x05, 'S', 't', 'a', 'r', 't', /* 2 method */
		0x1a, 0x04, 0x0a, 0x02, 'c', '1', /* 3 payload StartRequest */
		0x20, 0x80, 0xa8, 0xd6, 0xb9, 0x07, /* 4 timeout_nano 2e9 */
		0x2a, 0x25,			/* 5 metadata[0] */
		0x0a, 0x1a, 'c', 'o', 'n', 't', 'a', 'i', 'n', 'e', 'r', 'd',
		'-', 'n', 'a', 'm', 'e', 's', 'p', 'a', 'c', 'e', '-', 't',
		't', 'r', 'p', 'c',
		0x12, 0x07, 'd', 'e', 'f', 'a', 'u', 'l', 't',
	};
	/* clang-format on */
	Ttrpc__Request req;
	Ttrpc__KeyValue kv, *kvs[1] = {&kv};
	uint8_t payload[] = {0x0a, 0x02, 'c', '1'};

	(void)state;
	ttrpc__request__init(&req);
	ttrpc__key_value__init(&kv);
	req.service = "containerd.task.v2.Task";
	req.method = "Start";
	req.payload.data = payload;
	req.payload.len = sizeof(payload);
	req.timeout_nano = 2000000000;
	kv.key = "containerd-namespace-ttrpc";
	kv.value = "default";
	req.n_metadata = 1;
	req.metadata = kvs;
	check_packed(&req.base, want, sizeof(want));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_create_task_request),
	    cmocka_unit_test(test_delete_response),
	    cmocka_unit_test(test_negative_timestamp),
	    cmocka_unit_test(test_task_exit),
	    cmocka_unit_test(test_forward_envelope),
	    cmocka_unit_test(test_state_and_stats),
	    cmocka_unit_test(test_ttrpc_request_message),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
