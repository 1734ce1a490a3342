# Unit tests of CPU/memory hotplug: the policy (shim/hotplug_policy.c, pure)
# and the guest's usage reader (guest/agent_vmstats.c).
$(BUILD)/test/test_hotplug_policy: $(call asan_objs,tests/unit/test_hotplug_policy.c shim/hotplug_policy.c $(CONFIG_SRCS) $(LIB_SRCS_BASE))
	@mkdir -p $(@D)
	$(CC) $(SAN_FLAGS) $^ -o $@ $(LIBS_CMOCKA) $(LIBS_JSONC)
UNIT_TESTS += $(BUILD)/test/test_hotplug_policy

$(BUILD)/test/test_agent_vmstats: $(call asan_objs,tests/unit/test_agent_vmstats.c guest/agent_vmstats.c)
	@mkdir -p $(@D)
	$(CC) $(SAN_FLAGS) $^ -o $@ $(LIBS_CMOCKA)
UNIT_TESTS += $(BUILD)/test/test_agent_vmstats

$(BUILD)/test/test_hotplug_ctl: $(call asan_objs,tests/unit/test_hotplug_ctl.c shim/hotplug_ctl.c shim/hotplug_policy.c $(LIB_SRCS_EVLOOP) $(CONFIG_SRCS) $(LIB_SRCS_BASE))
	@mkdir -p $(@D)
	$(CC) $(SAN_FLAGS) $^ -o $@ $(LIBS_CMOCKA) $(LIBS_JSONC)
UNIT_TESTS += $(BUILD)/test/test_hotplug_ctl
