# shim/storage: mount translation (rootfs + spec mounts -> plan) and the EROFS
# layer cache, linked into the shim (last rule). Tests link $(LIBS_STORAGE).
STORAGE_SRCS := shim/storage.c shim/layer_cache.c
LIBS_MD      := -lmd
LIBS_STORAGE := $(LIBS_JSONC) $(LIBS_MD)

$(BUILD)/test/test_storage: $(call asan_objs,tests/unit/test_storage.c $(STORAGE_SRCS) $(LIB_SRCS_BASE))
	@mkdir -p $(@D)
	$(CC) $(SAN_FLAGS) $^ -o $@ $(LIBS_CMOCKA) $(LIBS_STORAGE)
UNIT_TESTS += $(BUILD)/test/test_storage

# Also the driver of tests/component/60-layer-cache.sh when given arguments.
$(BUILD)/test/test_layer_cache: $(call asan_objs,tests/unit/test_layer_cache.c $(STORAGE_SRCS) $(LIB_SRCS_BASE))
	@mkdir -p $(@D)
	$(CC) $(SAN_FLAGS) $^ -o $@ $(LIBS_CMOCKA) $(LIBS_STORAGE)
UNIT_TESTS += $(BUILD)/test/test_layer_cache
ALL_EXTRA  += $(BUILD)/test/test_layer_cache

# Into the shim (its link recipe uses $^ and SHIM_LIBS, which has json-c and -lmd).
$(BUILD)/bin/containerd-shim-qemubox-v1: $(call objs,$(STORAGE_SRCS))
