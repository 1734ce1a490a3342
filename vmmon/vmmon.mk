# vmmon/: the unprivileged VM monitor (jail, QEMU argv from fds, QMP).
VMMON_SRCS_ARGV := vmmon/qemu_argv.c
VMMON_SRCS_QMP := vmmon/qmp.c

$(BUILD)/test/test_qemu_argv: $(call asan_objs,tests/unit/test_qemu_argv.c $(VMMON_SRCS_ARGV) $(LIB_SRCS_BASE))
	@mkdir -p $(@D)
	$(CC) $(SAN_FLAGS) $^ -o $@ $(LIBS_CMOCKA)
UNIT_TESTS += $(BUILD)/test/test_qemu_argv
