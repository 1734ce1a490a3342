/*
 * A fake guest for shim/guest_client unit tests: an event loop, a
 * socketpair, the client on one end and a well-behaved guest chan on the
 * other that records the Requests it gets. Failed steps are cmocka
 * assertions.
 */
#ifndef QEMUBOX_TESTS_FAKE_GUEST_H
#define QEMUBOX_TESTS_FAKE_GUEST_H

#include <stdint.h>

#include "lib/chan.h"
#include "lib/evloop.h"
#include "shim/guest_client.h"

struct fake_guest {
	struct evloop *loop;
	int sv[2]; /* [0] the client's, [1] the guest's */
	struct guest_client *gc;
	struct chan *g;       /* the guest's end */
	int wait_ms;          /* per loop round in fake_guest_pump */
	uint32_t last_sid;    /* of the last Request the guest got */
	char last_method[32]; /* and its method */
	int requests;
	int dead;      /* on_dead calls, with fake_guest_on_dead */
	char why[128]; /* and the last reason */
};

/* ready_ms: the client's ready timeout; ops/arg: its callbacks. */
void fake_guest_setup(struct fake_guest *fg, uint64_t ready_ms, int wait_ms,
    const struct guest_client_ops *ops, void *arg);
void fake_guest_teardown(struct fake_guest *fg);
/* An on_dead for the client's ops whose arg is the fake_guest: counts
 * the calls into fg->dead and keeps the reason. */
void fake_guest_on_dead(struct guest_client *gc, const char *why, void *arg);
/* Run the loop and the guest's end for a few rounds. */
void fake_guest_pump(struct fake_guest *fg, int rounds);
void fake_guest_send_event(
    struct fake_guest *fg, const Qemubox__Guest__V1__Event *ev);
void fake_guest_send_ready(struct fake_guest *fg, uint64_t boot_ms);
/* guest_call Ping with nonce and a PingResponse decoder, then pump. */
void fake_guest_call_ping(struct fake_guest *fg, uint64_t nonce,
    uint64_t timeout_ms, guest_call_cb cb, void *arg);

#endif
