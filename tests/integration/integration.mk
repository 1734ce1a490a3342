# Test shims for tests/integration/1[1-3]-shim-*.sh: the shim engine
# (SHIM_CORE_SRCS) wired by its own main to tests/integration/
# shim_fake_backend.c, a backend that runs nothing, so containerd <-> shim is
# driven end to end without a VM.

# Under ASan/UBSan, unconfined (shim_fake_main.c names no confinement).
$(BUILD)/test/containerd-shim-qbfake-v1: $(call asan_objs,$(SHIM_CORE_SRCS) \
    tests/integration/shim_fake_main.c tests/integration/shim_fake_backend.c)
	@mkdir -p $(@D)
	$(CC) $(SAN_FLAGS) $^ -o $@ $(SHIM_LIBS)

# Same, but its backend needs the helpers: found in ../libexec next to the
# binary, i.e. build/libexec.
$(BUILD)/test/containerd-shim-qbfakeh-v1: $(call asan_objs,$(SHIM_CORE_SRCS) \
    tests/integration/shim_fake_main.c tests/integration/shim_fake_backend_helpers.c)
	@mkdir -p $(@D)
	$(CC) $(SAN_FLAGS) $^ -o $@ $(SHIM_LIBS)

# A normal build with the production shim's confinement (SHIM_CONFINE_SRCS,
# named by shim_fake_main_confined.c): 13-shim-confined.sh drives the
# confined daemon through the whole lifecycle.
$(BUILD)/test/containerd-shim-qbfakec-v1: $(call objs,$(SHIM_CORE_SRCS) $(SHIM_CONFINE_SRCS) \
    tests/integration/shim_fake_main_confined.c tests/integration/shim_fake_backend.c)
	@mkdir -p $(@D)
	$(CC) $(QB_LDFLAGS) $^ -o $@ $(SHIM_LIBS)

ALL_EXTRA += $(BUILD)/test/containerd-shim-qbfake-v1 \
	$(BUILD)/test/containerd-shim-qbfakeh-v1 $(BUILD)/test/containerd-shim-qbfakec-v1

# One Connect call under a chosen service name (v2 or v3): 10-shim-contract.sh.
$(BUILD)/test/ttrpc-connect: $(call objs,tests/integration/ttrpc_connect.c $(LIB_SRCS_TTRPC) $(LIB_SRCS_BASE))
	@mkdir -p $(@D)
	$(CC) $(QB_LDFLAGS) $^ -o $@ $(LIBS_PROTOBUF)
ALL_EXTRA += $(BUILD)/test/ttrpc-connect
