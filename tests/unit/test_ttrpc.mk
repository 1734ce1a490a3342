# Unit tests for lib/evloop, lib/ttrpc*, proto/ (included after proto/*.mk,
# so $(PROTO_SRCS) is known here).
$(BUILD)/test/test_ttrpc_evloop: $(call asan_objs,tests/unit/test_ttrpc_evloop.c $(LIB_SRCS_EVLOOP) $(LIB_SRCS_BASE))
	@mkdir -p $(@D)
	$(CC) $(SAN_FLAGS) $^ -o $@ $(LIBS_CMOCKA)
UNIT_TESTS += $(BUILD)/test/test_ttrpc_evloop

$(BUILD)/test/test_ttrpc_frame: $(call asan_objs,tests/unit/test_ttrpc_frame.c $(LIB_SRCS_TTRPC_FRAME) $(LIB_SRCS_BASE))
	@mkdir -p $(@D)
	$(CC) $(SAN_FLAGS) $^ -o $@ $(LIBS_CMOCKA)
UNIT_TESTS += $(BUILD)/test/test_ttrpc_frame

$(BUILD)/test/test_ttrpc_proto: $(call asan_objs,tests/unit/test_ttrpc_proto.c $(PROTO_SRCS))
	@mkdir -p $(@D)
	$(CC) $(SAN_FLAGS) $^ -o $@ $(LIBS_CMOCKA) $(LIBS_PROTOBUF)
UNIT_TESTS += $(BUILD)/test/test_ttrpc_proto

$(BUILD)/test/test_ttrpc: $(call asan_objs,tests/unit/test_ttrpc.c $(LIB_SRCS_TTRPC) $(LIB_SRCS_BASE))
	@mkdir -p $(@D)
	$(CC) $(SAN_FLAGS) $^ -o $@ $(LIBS_CMOCKA) $(LIBS_PROTOBUF)
UNIT_TESTS += $(BUILD)/test/test_ttrpc

$(BUILD)/fuzz-bin/fuzz_ttrpc: $(call fuzz_objs,tests/fuzz/fuzz_ttrpc.c $(LIB_SRCS_TTRPC) $(LIB_SRCS_BASE))
	@mkdir -p $(@D)
	$(FUZZCC) -fsanitize=fuzzer,address,undefined $^ -o $@ $(LIBS_PROTOBUF)
FUZZERS += $(BUILD)/fuzz-bin/fuzz_ttrpc
