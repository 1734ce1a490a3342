# lib/ttrpc.mk: the event loop, ttrpc framing, server and client.
# Users link $(LIB_SRCS_EVLOOP) and/or $(LIB_SRCS_TTRPC) (which includes the
# loop and needs $(PROTO_SRCS) + $(LIBS_PROTOBUF) once the server is in).
LIB_SRCS_EVLOOP := lib/evloop.c
LIB_SRCS_TTRPC_FRAME := lib/ttrpc_frame.c

$(BUILD)/test/test_ttrpc_evloop: $(call asan_objs,tests/unit/test_ttrpc_evloop.c $(LIB_SRCS_EVLOOP) $(LIB_SRCS_BASE))
	@mkdir -p $(@D)
	$(CC) $(SAN_FLAGS) $^ -o $@ $(LIBS_CMOCKA)
UNIT_TESTS += $(BUILD)/test/test_ttrpc_evloop

$(BUILD)/test/test_ttrpc_frame: $(call asan_objs,tests/unit/test_ttrpc_frame.c $(LIB_SRCS_TTRPC_FRAME) $(LIB_SRCS_BASE))
	@mkdir -p $(@D)
	$(CC) $(SAN_FLAGS) $^ -o $@ $(LIBS_CMOCKA)
UNIT_TESTS += $(BUILD)/test/test_ttrpc_frame
