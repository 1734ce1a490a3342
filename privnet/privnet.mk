# privnet/: qemubox-privnet (root network helper) and qemubox-cleanup.
PRIVNET_PURE_SRCS := privnet/cni_result.c privnet/cni_config.c \
	privnet/privnet_validate.c

$(BUILD)/test/test_cni_result: $(call asan_objs,tests/unit/test_cni_result.c $(PRIVNET_PURE_SRCS) $(LIB_SRCS_BASE))
	@mkdir -p $(@D)
	$(CC) $(SAN_FLAGS) $^ -o $@ $(LIBS_JSONC) $(LIBS_CMOCKA)
UNIT_TESTS += $(BUILD)/test/test_cni_result

$(BUILD)/test/test_cni_config: $(call asan_objs,tests/unit/test_cni_config.c $(PRIVNET_PURE_SRCS) $(LIB_SRCS_BASE))
	@mkdir -p $(@D)
	$(CC) $(SAN_FLAGS) $^ -o $@ $(LIBS_JSONC) $(LIBS_CMOCKA)
UNIT_TESTS += $(BUILD)/test/test_cni_config

$(BUILD)/fuzz-bin/fuzz_cni_result: $(call fuzz_objs,tests/fuzz/fuzz_cni_result.c $(PRIVNET_PURE_SRCS) $(LIB_SRCS_BASE))
	@mkdir -p $(@D)
	$(FUZZCC) -fsanitize=fuzzer,address,undefined $^ -o $@ $(LIBS_JSONC)
FUZZERS += $(BUILD)/fuzz-bin/fuzz_cni_result
