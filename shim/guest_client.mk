# shim/guest_client (+ the shared channel code it needs): the host-side client
# of the guest API. The shim links $(SHIM_GUEST_SRCS) and $(LIBS_PROTOBUF).
SHIM_GUEST_SRCS := shim/guest_client.c $(LIB_SRCS_CHAN) lib/chan_pump.c \
	$(GUEST_PROTO_SRCS)

$(BUILD)/fuzz-bin/fuzz_guest_client: $(call fuzz_objs,tests/fuzz/fuzz_guest_client.c \
    $(SHIM_GUEST_SRCS) $(LIB_SRCS_EVLOOP) $(LIB_SRCS_BASE))
	@mkdir -p $(@D)
	$(FUZZCC) -fsanitize=fuzzer,address,undefined $^ -o $@ $(LIBS_PROTOBUF)
FUZZERS += $(BUILD)/fuzz-bin/fuzz_guest_client

$(BUILD)/test/test_guest_client: $(call asan_objs,tests/unit/test_guest_client.c tests/unit/fake_guest.c \
    $(SHIM_GUEST_SRCS) $(LIB_SRCS_EVLOOP) $(LIB_SRCS_BASE))
	@mkdir -p $(@D)
	$(CC) $(SAN_FLAGS) $^ -o $@ $(LIBS_CMOCKA) $(LIBS_PROTOBUF)
UNIT_TESTS += $(BUILD)/test/test_guest_client
