# The shim's confinement (security): Landlock rules + seccomp allowlist,
# reached from shim_priv_drop() through a weak symbol, so only binaries that
# link these objects are confined (the real shim; not the ASan fake shims).
SHIM_CONFINE_SRCS := shim/shim_landlock.c seccomp/shim.c $(SECCOMP_SRCS_BASE) \
	$(LIB_SRCS_LANDLOCK)

$(BUILD)/bin/containerd-shim-qemubox-v1: $(call objs,$(SHIM_CONFINE_SRCS))
SHIM_LIBS += $(LIBS_SECCOMP)

$(BUILD)/test/test_shim_confine: $(call asan_objs,tests/unit/test_shim_confine.c $(SHIM_CONFINE_SRCS) $(CONFIG_SRCS) $(LIB_SRCS_BASE))
	@mkdir -p $(@D)
	$(CC) $(SAN_FLAGS) $^ -o $@ $(LIBS_CMOCKA) $(LIBS_SECCOMP) $(LIBS_JSONC)
UNIT_TESTS += $(BUILD)/test/test_shim_confine
