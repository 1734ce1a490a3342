# `make bench` helpers (scripts/bench): the floor's init, the RPC ping
# driver over shim/guest_client, and the stdio throughput reader.
BENCH_DIR := $(BUILD)/bench

# Static: the floor's initrd holds this one file and nothing else.
$(BENCH_DIR)/poweroff_init: tests/bench/poweroff_init.c
	@mkdir -p $(@D)
	$(CC) $(QB_CFLAGS) -static -O2 $< -o $@

$(BENCH_DIR)/rpc_ping: $(call objs,tests/bench/rpc_ping.c $(SHIM_GUEST_SRCS) \
    $(LIB_SRCS_EVLOOP) $(LIB_SRCS_BASE))
	@mkdir -p $(@D)
	$(CC) $(QB_LDFLAGS) $^ -o $@ $(LIBS_PROTOBUF) $(LIBS_JSONC) -lmd

$(BENCH_DIR)/stdio_sink: $(call objs,tests/bench/stdio_sink.c)
	@mkdir -p $(@D)
	$(CC) $(QB_LDFLAGS) $^ -o $@

$(BENCH_DIR)/stdio_feed: $(call objs,tests/bench/stdio_feed.c)
	@mkdir -p $(@D)
	$(CC) $(QB_LDFLAGS) $^ -o $@

ALL_EXTRA += $(BENCH_DIR)/poweroff_init $(BENCH_DIR)/rpc_ping $(BENCH_DIR)/stdio_sink \
	$(BENCH_DIR)/stdio_feed
