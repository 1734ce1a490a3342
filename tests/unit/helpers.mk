# Unit tests (cmocka, ASan/UBSan) of privnet/, vmmon/ and guest/.
$(BUILD)/test/test_cni_result: $(call asan_objs,tests/unit/test_cni_result.c $(PRIVNET_PURE_SRCS) $(LIB_SRCS_BASE))
	@mkdir -p $(@D)
	$(CC) $(SAN_FLAGS) $^ -o $@ $(LIBS_JSONC) $(LIBS_CMOCKA)
UNIT_TESTS += $(BUILD)/test/test_cni_result

$(BUILD)/test/test_cni_config: $(call asan_objs,tests/unit/test_cni_config.c $(PRIVNET_PURE_SRCS) $(LIB_SRCS_BASE))
	@mkdir -p $(@D)
	$(CC) $(SAN_FLAGS) $^ -o $@ $(LIBS_JSONC) $(LIBS_CMOCKA)
UNIT_TESTS += $(BUILD)/test/test_cni_config

# The liveness rule (pure) and the facts it reads: start times, netdb records.
$(BUILD)/test/test_privnet_claim: $(call asan_objs,tests/unit/test_privnet_claim.c privnet/netdb.c $(PRIVNET_PURE_SRCS) $(LIB_SRCS_BASE))
	@mkdir -p $(@D)
	$(CC) $(SAN_FLAGS) $^ -o $@ $(LIBS_JSONC) $(LIBS_LMDB) $(LIBS_CMOCKA)
UNIT_TESTS += $(BUILD)/test/test_privnet_claim

$(BUILD)/test/test_qemu_argv: $(call asan_objs,tests/unit/test_qemu_argv.c tests/unit/golden.c $(VMMON_SRCS_ARGV) $(LIB_SRCS_BASE))
	@mkdir -p $(@D)
	$(CC) $(SAN_FLAGS) $^ -o $@ $(LIBS_CMOCKA)
UNIT_TESTS += $(BUILD)/test/test_qemu_argv

$(BUILD)/test/test_vmmon_validate: $(call asan_objs,tests/unit/test_vmmon_validate.c vmmon/vmmon_validate.c $(VMMON_SRCS_ARGV) $(IMSG_PEER_SRCS) $(IMSG_SRCS) $(LIB_SRCS_BASE))
	@mkdir -p $(@D)
	$(CC) $(SAN_FLAGS) $^ -o $@ $(LIBS_CMOCKA) $(LIBS_BSD)
UNIT_TESTS += $(BUILD)/test/test_vmmon_validate

$(BUILD)/test/test_qmp: $(call asan_objs,tests/unit/test_qmp.c $(VMMON_SRCS_QMP) $(LIB_SRCS_BASE))
	@mkdir -p $(@D)
	$(CC) $(SAN_FLAGS) $^ -o $@ $(LIBS_CMOCKA) $(LIBS_JSONC)
UNIT_TESTS += $(BUILD)/test/test_qmp

$(BUILD)/test/test_pid1: $(call asan_objs,tests/unit/test_pid1.c guest/pid1.c guest/gfile.c $(LIB_SRCS_BASE))
	@mkdir -p $(@D)
	$(CC) $(SAN_FLAGS) $^ -o $@ $(LIBS_CMOCKA)
UNIT_TESTS += $(BUILD)/test/test_pid1

$(BUILD)/test/test_fsd_validate: $(call asan_objs,tests/unit/test_fsd_validate.c $(FSD_PURE_SRCS) $(LIB_SRCS_BASE))
	@mkdir -p $(@D)
	$(CC) $(SAN_FLAGS) $^ -o $@ $(LIBS_CMOCKA)
UNIT_TESTS += $(BUILD)/test/test_fsd_validate

$(BUILD)/test/test_elf_deps: $(call asan_objs,tests/unit/test_elf_deps.c vmmon/elf_deps.c)
	@mkdir -p $(@D)
	$(CC) $(SAN_FLAGS) $^ -o $@ $(LIBS_CMOCKA)
UNIT_TESTS += $(BUILD)/test/test_elf_deps

$(BUILD)/test/test_tmpl_match: $(call asan_objs,tests/unit/test_tmpl_match.c $(TMPL_SRCS_MATCH) $(LIB_SRCS_BASE))
	@mkdir -p $(@D)
	$(CC) $(SAN_FLAGS) $^ -o $@ $(LIBS_CMOCKA)
UNIT_TESTS += $(BUILD)/test/test_tmpl_match
