# seccomp/: the shared loader plus one allowlist file per role (seccomp/<role>.c).
SECCOMP_SRCS_BASE := seccomp/seccomp.c seccomp/seccomp_base.c
SECCOMP_ROLE_SRCS := seccomp/shim.c seccomp/privnet.c seccomp/vmmon.c

# Each role's allowlist against tests/golden/seccomp/ (nothing is loaded).
$(BUILD)/test/test_seccomp_lists: $(call asan_objs,tests/unit/test_seccomp_lists.c tests/unit/golden.c $(SECCOMP_ROLE_SRCS) $(SECCOMP_SRCS_BASE) $(LIB_SRCS_BASE))
	@mkdir -p $(@D)
	$(CC) $(SAN_FLAGS) -Wl,--wrap=seccomp_load $^ -o $@ $(LIBS_CMOCKA) $(LIBS_SECCOMP)
UNIT_TESTS += $(BUILD)/test/test_seccomp_lists
