# vmmon/: the unprivileged VM monitor (jail, QEMU argv from fds, QMP).
VMMON_SRCS_ARGV := vmmon/qemu_argv.c
VMMON_SRCS_QMP := vmmon/qmp.c

$(BUILD)/test/test_qemu_argv: $(call asan_objs,tests/unit/test_qemu_argv.c tests/unit/golden.c $(VMMON_SRCS_ARGV) $(LIB_SRCS_BASE))
	@mkdir -p $(@D)
	$(CC) $(SAN_FLAGS) $^ -o $@ $(LIBS_CMOCKA)
UNIT_TESTS += $(BUILD)/test/test_qemu_argv

VMMON_SRCS := vmmon/vmmon.c vmmon/vmmon_validate.c vmmon/vm_lifecycle.c vmmon/hotplug.c \
	vmmon/console.c $(IMSG_PEER_SRCS) \
	vmmon/vmmon_priv.c vmmon/elf_deps.c vmmon/qemu_launcher.c \
	$(VMMON_SRCS_ARGV) $(VMMON_SRCS_QMP) seccomp/vmmon.c
$(BUILD)/libexec/qemubox-vmmon: $(call objs,$(VMMON_SRCS) $(CONFIG_SRCS) $(SECCOMP_SRCS_BASE) $(IMSG_SRCS) $(LIB_SRCS_BASE))
	@mkdir -p $(@D)
	$(CC) $(QB_LDFLAGS) $^ -o $@ $(LIBS_JSONC) $(LIBS_SECCOMP) $(LIBS_CAPNG) $(LIBS_BSD)
LIBEXEC_BINS += qemubox-vmmon

# shim/vmmon_client: the shim's stubs (linked by the shim via SHIM_SRCS_VMMON).
SHIM_SRCS_VMMON := shim/vmmon_client.c

# Test-only helpers for tests/component/40-vmmon.sh: a driver playing the
# shim, and a binary that loads a vmmon filter then makes a forbidden call.
$(BUILD)/test/vmmon-driver: $(call objs,tests/component/vmmon-driver.c $(SHIM_SRCS_VMMON) $(LIB_SRCS_EVLOOP) $(PROC_SPAWN_SRCS) $(IMSG_SRCS) $(LIB_SRCS_BASE))
	@mkdir -p $(@D)
	$(CC) $(QB_LDFLAGS) $^ -o $@ $(LIBS_BSD)
$(BUILD)/test/vmmon-seccomp-helper: $(call objs,tests/component/vmmon-seccomp-helper.c seccomp/vmmon.c $(SECCOMP_SRCS_BASE) $(LIB_SRCS_BASE))
	@mkdir -p $(@D)
	$(CC) $(QB_LDFLAGS) $^ -o $@ $(LIBS_SECCOMP)
# Static: it runs in vmmon's jail, which holds only what QEMU links.
$(BUILD)/test/vmmon-fake-qemu: $(call objs,tests/component/vmmon-fake-qemu.c)
	@mkdir -p $(@D)
	$(CC) -static $^ -o $@
ALL_EXTRA += $(BUILD)/test/vmmon-driver $(BUILD)/test/vmmon-seccomp-helper \
	$(BUILD)/test/vmmon-fake-qemu

$(BUILD)/test/test_qmp: $(call asan_objs,tests/unit/test_qmp.c $(VMMON_SRCS_QMP) $(LIB_SRCS_BASE))
	@mkdir -p $(@D)
	$(CC) $(SAN_FLAGS) $^ -o $@ $(LIBS_CMOCKA) $(LIBS_JSONC)
UNIT_TESTS += $(BUILD)/test/test_qmp

$(BUILD)/fuzz-bin/fuzz_qmp: $(call fuzz_objs,tests/fuzz/fuzz_qmp.c $(VMMON_SRCS_QMP) $(LIB_SRCS_BASE))
	@mkdir -p $(@D)
	$(FUZZCC) -fsanitize=fuzzer,address,undefined $^ -o $@ $(LIBS_JSONC)
FUZZERS += $(BUILD)/fuzz-bin/fuzz_qmp

$(BUILD)/test/test_vmmon_client: $(call asan_objs,tests/unit/test_vmmon_client.c $(SHIM_SRCS_VMMON) $(LIB_SRCS_EVLOOP) $(IMSG_SRCS) $(LIB_SRCS_BASE))
	@mkdir -p $(@D)
	$(CC) $(SAN_FLAGS) $^ -o $@ $(LIBS_CMOCKA) $(LIBS_BSD)
UNIT_TESTS += $(BUILD)/test/test_vmmon_client

$(BUILD)/test/test_vmmon_validate: $(call asan_objs,tests/unit/test_vmmon_validate.c vmmon/vmmon_validate.c $(VMMON_SRCS_ARGV) $(IMSG_PEER_SRCS) $(IMSG_SRCS) $(LIB_SRCS_BASE))
	@mkdir -p $(@D)
	$(CC) $(SAN_FLAGS) $^ -o $@ $(LIBS_CMOCKA) $(LIBS_BSD)
UNIT_TESTS += $(BUILD)/test/test_vmmon_validate
