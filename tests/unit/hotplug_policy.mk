# The hotplug policy's unit test (shim/hotplug_policy.c is pure).
$(BUILD)/test/test_hotplug_policy: $(call asan_objs,tests/unit/test_hotplug_policy.c shim/hotplug_policy.c $(CONFIG_SRCS) $(LIB_SRCS_BASE))
	@mkdir -p $(@D)
	$(CC) $(SAN_FLAGS) $^ -o $@ $(LIBS_CMOCKA) $(LIBS_JSONC)
UNIT_TESTS += $(BUILD)/test/test_hotplug_policy
