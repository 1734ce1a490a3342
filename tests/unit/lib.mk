# Unit tests (cmocka, ASan/UBSan) of lib/, imsg/ and seccomp/.
$(BUILD)/test/test_log: $(call asan_objs,tests/unit/test_log.c $(LIB_SRCS_BASE))
	@mkdir -p $(@D)
	$(CC) $(SAN_FLAGS) $^ -o $@ $(LIBS_CMOCKA)
UNIT_TESTS += $(BUILD)/test/test_log

$(BUILD)/test/test_config: $(call asan_objs,tests/unit/test_config.c $(CONFIG_SRCS) $(LIB_SRCS_BASE))
	@mkdir -p $(@D)
	$(CC) $(SAN_FLAGS) $^ -o $@ $(LIBS_CMOCKA) $(LIBS_JSONC)
UNIT_TESTS += $(BUILD)/test/test_config

$(BUILD)/test/test_landlock: $(call asan_objs,tests/unit/test_landlock.c $(LIB_SRCS_LANDLOCK) $(LIB_SRCS_BASE))
	@mkdir -p $(@D)
	$(CC) $(SAN_FLAGS) $^ -o $@ $(LIBS_CMOCKA)
UNIT_TESTS += $(BUILD)/test/test_landlock

$(BUILD)/test/test_proc_spawn: $(call asan_objs,tests/unit/test_proc_spawn.c $(PROC_SPAWN_SRCS))
	@mkdir -p $(@D)
	$(CC) $(SAN_FLAGS) $^ -o $@ $(LIBS_CMOCKA)
UNIT_TESTS += $(BUILD)/test/test_proc_spawn

$(BUILD)/test/test_chan: $(call asan_objs,tests/unit/test_chan.c $(LIB_SRCS_CHAN) lib/log.c)
	@mkdir -p $(@D)
	$(CC) $(SAN_FLAGS) $^ -o $@ $(LIBS_CMOCKA) $(LIBS_PROTOBUF)
UNIT_TESTS += $(BUILD)/test/test_chan

$(BUILD)/test/test_chan_pump: $(call asan_objs,tests/unit/test_chan_pump.c lib/chan_pump.c \
    $(LIB_SRCS_CHAN) $(LIB_SRCS_EVLOOP) $(LIB_SRCS_BASE))
	@mkdir -p $(@D)
	$(CC) $(SAN_FLAGS) $^ -o $@ $(LIBS_CMOCKA) $(LIBS_PROTOBUF)
UNIT_TESTS += $(BUILD)/test/test_chan_pump

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

$(BUILD)/test/test_imsg: $(call asan_objs,tests/unit/test_imsg.c $(IMSG_SRCS) $(PROC_SPAWN_SRCS))
	@mkdir -p $(@D)
	$(CC) $(SAN_FLAGS) $^ -o $@ $(LIBS_CMOCKA) $(LIBS_BSD)
UNIT_TESTS += $(BUILD)/test/test_imsg

# Each role's allowlist against tests/golden/seccomp/ (nothing is loaded).
$(BUILD)/test/test_seccomp_lists: $(call asan_objs,tests/unit/test_seccomp_lists.c tests/unit/golden.c $(SECCOMP_ROLE_SRCS) $(SECCOMP_SRCS_BASE) $(LIB_SRCS_BASE))
	@mkdir -p $(@D)
	$(CC) $(SAN_FLAGS) -Wl,--wrap=seccomp_load $^ -o $@ $(LIBS_CMOCKA) $(LIBS_SECCOMP)
UNIT_TESTS += $(BUILD)/test/test_seccomp_lists

# The filters compiled at build time against their policies, then loaded.
$(BUILD)/test/test_seccomp_bpf: $(call asan_objs,tests/unit/test_seccomp_bpf.c $(SECCOMP_BPF_POLICY_SRCS) $(SECCOMP_BPF_SRCS) $(SECCOMP_SRCS_BASE) $(LIB_SRCS_BASE))
	@mkdir -p $(@D)
	$(CC) $(SAN_FLAGS) -Wl,--wrap=seccomp_load $^ -o $@ $(LIBS_CMOCKA) $(LIBS_SECCOMP)
UNIT_TESTS += $(BUILD)/test/test_seccomp_bpf

$(BUILD)/test/test_sandbox_cgroup: $(call asan_objs,tests/unit/test_sandbox_cgroup.c lib/sandbox_cgroup.c $(LIB_SRCS_BASE))
	@mkdir -p $(@D)
	$(CC) $(SAN_FLAGS) $^ -o $@ $(LIBS_CMOCKA)
UNIT_TESTS += $(BUILD)/test/test_sandbox_cgroup

$(BUILD)/test/test_sandbox_uid: $(call asan_objs,tests/unit/test_sandbox_uid.c $(SANDBOX_HOST_LIB_SRCS) $(LIB_SRCS_BASE))
	@mkdir -p $(@D)
	$(CC) $(SAN_FLAGS) $^ -o $@ $(LIBS_CMOCKA) $(LIBS_JSONC)
UNIT_TESTS += $(BUILD)/test/test_sandbox_uid
