# lib/chan: host<->guest channel framing, stdio streams with credit, events.
# Linked by vminitd (guest/agent) and the shim (shim/guest_client).
LIB_SRCS_CHAN := lib/chan.c lib/chan_rpc.c

$(BUILD)/test/test_chan: $(call asan_objs,tests/unit/test_chan.c $(LIB_SRCS_CHAN) lib/log.c)
	@mkdir -p $(@D)
	$(CC) $(SAN_FLAGS) $^ -o $@ $(LIBS_CMOCKA)
UNIT_TESTS += $(BUILD)/test/test_chan

$(BUILD)/fuzz-bin/fuzz_chan: $(call fuzz_objs,tests/fuzz/fuzz_chan.c $(LIB_SRCS_CHAN) lib/log.c)
	@mkdir -p $(@D)
	$(FUZZCC) -fsanitize=fuzzer,address,undefined $^ -o $@
FUZZERS += $(BUILD)/fuzz-bin/fuzz_chan

$(BUILD)/fuzz-bin/fuzz_chan_rpc: $(call fuzz_objs,tests/fuzz/fuzz_chan_rpc.c lib/chan_rpc.c lib/chan.c lib/log.c)
	@mkdir -p $(@D)
	$(FUZZCC) -fsanitize=fuzzer,address,undefined $^ -o $@
FUZZERS += $(BUILD)/fuzz-bin/fuzz_chan_rpc
