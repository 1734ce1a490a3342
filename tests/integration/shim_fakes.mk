# Test shims for tests/integration/1[1-3]-shim-*.sh: the real shim code with
# tests/integration/shim_fake_backend.c. Here (included after shim/*.mk) so
# the confinement sources of shim/shim_landlock.mk are known.
# The real shim with a backend that runs nothing (tests/integration only):
# drives containerd <-> shim end to end without a VM, under ASan/UBSan.
$(BUILD)/test/containerd-shim-qbfake-v1: $(call asan_objs,$(SHIM_SRCS) tests/integration/shim_fake_backend.c $(LIB_SRCS_BASE) $(CONFIG_SRCS))
	@mkdir -p $(@D)
	$(CC) $(SAN_FLAGS) $^ -o $@ $(SHIM_LIBS)
ALL_EXTRA += $(BUILD)/test/containerd-shim-qbfake-v1

# Same, but its backend needs the helpers: found in ../libexec next to the
# binary, i.e. build/libexec.
$(BUILD)/test/containerd-shim-qbfakeh-v1: $(call asan_objs,$(SHIM_SRCS) tests/integration/shim_fake_backend_helpers.c $(LIB_SRCS_BASE) $(CONFIG_SRCS))
	@mkdir -p $(@D)
	$(CC) $(SAN_FLAGS) $^ -o $@ $(SHIM_LIBS)
ALL_EXTRA += $(BUILD)/test/containerd-shim-qbfakeh-v1

# The fake backend in a normal (non-ASan) build with the real confinement
# (shim/shim_landlock.mk: seccomp + Landlock): drives the confined daemon
# through the whole lifecycle in tests/integration/13-shim-confined.sh.
$(BUILD)/test/containerd-shim-qbfakec-v1: $(call objs,$(SHIM_SRCS) tests/integration/shim_fake_backend.c $(LIB_SRCS_BASE) $(CONFIG_SRCS) $(SHIM_CONFINE_SRCS))
	@mkdir -p $(@D)
	$(CC) $(QB_LDFLAGS) $^ -o $@ $(SHIM_LIBS) $(LIBS_SECCOMP)
ALL_EXTRA += $(BUILD)/test/containerd-shim-qbfakec-v1
