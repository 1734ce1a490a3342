# security: a hostile guest against shim/guest_client (ASan/UBSan).
$(BUILD)/test/test_guest_hostile: $(call asan_objs,tests/unit/test_guest_hostile.c tests/unit/fake_guest.c \
    $(SHIM_GUEST_SRCS) $(LIB_SRCS_EVLOOP) $(LIB_SRCS_BASE))
	@mkdir -p $(@D)
	$(CC) $(SAN_FLAGS) $^ -o $@ $(LIBS_CMOCKA) $(LIBS_PROTOBUF)
UNIT_TESTS += $(BUILD)/test/test_guest_hostile
