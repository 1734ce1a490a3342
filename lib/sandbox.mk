# lib/owner + lib/sandbox_cgroup + lib/sandbox_uid: what a sandbox holds on
# the host besides its network (a uid, a cgroup), and the owner rule records
# of crash-surviving state are judged by.
SANDBOX_HOST_LIB_SRCS := lib/owner.c lib/sandbox_cgroup.c lib/sandbox_uid.c

$(BUILD)/test/test_sandbox_cgroup: $(call asan_objs,tests/unit/test_sandbox_cgroup.c lib/sandbox_cgroup.c $(LIB_SRCS_BASE))
	@mkdir -p $(@D)
	$(CC) $(SAN_FLAGS) $^ -o $@ $(LIBS_CMOCKA)
UNIT_TESTS += $(BUILD)/test/test_sandbox_cgroup

$(BUILD)/test/test_sandbox_uid: $(call asan_objs,tests/unit/test_sandbox_uid.c $(SANDBOX_HOST_LIB_SRCS) $(LIB_SRCS_BASE))
	@mkdir -p $(@D)
	$(CC) $(SAN_FLAGS) $^ -o $@ $(LIBS_CMOCKA) $(LIBS_JSONC)
UNIT_TESTS += $(BUILD)/test/test_sandbox_uid
