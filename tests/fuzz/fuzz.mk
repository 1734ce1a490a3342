# libFuzzer targets (clang, ASan/UBSan): `make fuzz-build`, smoke-run by
# `make fuzz` and tests/run --all (tests/fuzz/smoke).
$(BUILD)/fuzz-bin/fuzz_imsg: $(call fuzz_objs,tests/fuzz/fuzz_imsg.c $(IMSG_SRCS))
	@mkdir -p $(@D)
	$(FUZZCC) -fsanitize=fuzzer,address,undefined $^ -o $@ $(LIBS_BSD)
FUZZERS += $(BUILD)/fuzz-bin/fuzz_imsg

$(BUILD)/fuzz-bin/fuzz_chan: $(call fuzz_objs,tests/fuzz/fuzz_chan.c $(LIB_SRCS_CHAN) lib/log.c)
	@mkdir -p $(@D)
	$(FUZZCC) -fsanitize=fuzzer,address,undefined $^ -o $@ $(LIBS_PROTOBUF)
FUZZERS += $(BUILD)/fuzz-bin/fuzz_chan

$(BUILD)/fuzz-bin/fuzz_chan_rpc: $(call fuzz_objs,tests/fuzz/fuzz_chan_rpc.c $(LIB_SRCS_CHAN) lib/log.c)
	@mkdir -p $(@D)
	$(FUZZCC) -fsanitize=fuzzer,address,undefined $^ -o $@ $(LIBS_PROTOBUF)
FUZZERS += $(BUILD)/fuzz-bin/fuzz_chan_rpc

$(BUILD)/fuzz-bin/fuzz_config: $(call fuzz_objs,tests/fuzz/fuzz_config.c $(CONFIG_SRCS) $(LIB_SRCS_BASE))
	@mkdir -p $(@D)
	$(FUZZCC) -fsanitize=fuzzer,address,undefined $^ -o $@ $(LIBS_JSONC)
FUZZERS += $(BUILD)/fuzz-bin/fuzz_config

$(BUILD)/fuzz-bin/fuzz_ttrpc: $(call fuzz_objs,tests/fuzz/fuzz_ttrpc.c $(LIB_SRCS_TTRPC) $(LIB_SRCS_BASE))
	@mkdir -p $(@D)
	$(FUZZCC) -fsanitize=fuzzer,address,undefined $^ -o $@ $(LIBS_PROTOBUF)
FUZZERS += $(BUILD)/fuzz-bin/fuzz_ttrpc

$(BUILD)/fuzz-bin/fuzz_cni_result: $(call fuzz_objs,tests/fuzz/fuzz_cni_result.c $(PRIVNET_PURE_SRCS) $(LIB_SRCS_BASE))
	@mkdir -p $(@D)
	$(FUZZCC) -fsanitize=fuzzer,address,undefined $^ -o $@ $(LIBS_JSONC)
FUZZERS += $(BUILD)/fuzz-bin/fuzz_cni_result

$(BUILD)/fuzz-bin/fuzz_qmp: $(call fuzz_objs,tests/fuzz/fuzz_qmp.c $(VMMON_SRCS_QMP) $(LIB_SRCS_BASE))
	@mkdir -p $(@D)
	$(FUZZCC) -fsanitize=fuzzer,address,undefined $^ -o $@ $(LIBS_JSONC)
FUZZERS += $(BUILD)/fuzz-bin/fuzz_qmp

$(BUILD)/fuzz-bin/fuzz_guest_client: $(call fuzz_objs,tests/fuzz/fuzz_guest_client.c \
    $(SHIM_GUEST_SRCS) $(LIB_SRCS_EVLOOP) $(LIB_SRCS_BASE))
	@mkdir -p $(@D)
	$(FUZZCC) -fsanitize=fuzzer,address,undefined $^ -o $@ $(LIBS_PROTOBUF)
FUZZERS += $(BUILD)/fuzz-bin/fuzz_guest_client

$(BUILD)/fuzz-bin/fuzz_shim_task: $(call fuzz_objs,tests/fuzz/fuzz_shim_task.c shim/task_ttrpc.c shim/task_service.c $(LIB_SRCS_TTRPC) $(LIB_SRCS_BASE))
	@mkdir -p $(@D)
	$(FUZZCC) -fsanitize=fuzzer,address,undefined $^ -o $@ $(LIBS_PROTOBUF)
FUZZERS += $(BUILD)/fuzz-bin/fuzz_shim_task

$(BUILD)/fuzz-bin/fuzz_storage: $(call fuzz_objs,tests/fuzz/fuzz_storage.c $(STORAGE_SRCS) $(LIB_SRCS_BASE))
	@mkdir -p $(@D)
	$(FUZZCC) -fsanitize=fuzzer,address,undefined $^ -o $@ $(LIBS_JSONC) -lmd $(LIBS_BSD)
FUZZERS += $(BUILD)/fuzz-bin/fuzz_storage
