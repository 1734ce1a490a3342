# lib/chan: host<->guest channel framing, stdio streams with credit, events.
# Linked by vminitd (guest/agent) and the shim (shim/guest_client), with
# $(LIBS_PROTOBUF).
#
# The ttrpc envelope encoder and the generated messages it needs, shared with
# lib/ttrpc.mk; defined here because this fragment is read first of lib/.
TTRPC_MSG_SRCS := lib/ttrpc_msg.c $(addprefix $(BUILD)/gen/proto/, \
	google_protobuf.pb-c.c google_rpc.pb-c.c ttrpc.pb-c.c)
LIB_SRCS_CHAN := lib/chan.c lib/chan_rpc.c lib/ttrpc_frame.c $(TTRPC_MSG_SRCS)

$(BUILD)/test/test_chan: $(call asan_objs,tests/unit/test_chan.c $(LIB_SRCS_CHAN) lib/log.c)
	@mkdir -p $(@D)
	$(CC) $(SAN_FLAGS) $^ -o $@ $(LIBS_CMOCKA) $(LIBS_PROTOBUF)
UNIT_TESTS += $(BUILD)/test/test_chan

$(BUILD)/fuzz-bin/fuzz_chan: $(call fuzz_objs,tests/fuzz/fuzz_chan.c $(LIB_SRCS_CHAN) lib/log.c)
	@mkdir -p $(@D)
	$(FUZZCC) -fsanitize=fuzzer,address,undefined $^ -o $@ $(LIBS_PROTOBUF)
FUZZERS += $(BUILD)/fuzz-bin/fuzz_chan

$(BUILD)/fuzz-bin/fuzz_chan_rpc: $(call fuzz_objs,tests/fuzz/fuzz_chan_rpc.c $(LIB_SRCS_CHAN) lib/log.c)
	@mkdir -p $(@D)
	$(FUZZCC) -fsanitize=fuzzer,address,undefined $^ -o $@ $(LIBS_PROTOBUF)
FUZZERS += $(BUILD)/fuzz-bin/fuzz_chan_rpc
