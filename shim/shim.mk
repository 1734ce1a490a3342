# shim/: containerd-shim-qemubox-v1 (the containerd-facing engine).
#
# Other components add their objects and libraries to the shim from their
# own fragments (included after this one):
#   $(BUILD)/bin/containerd-shim-qemubox-v1: $(call objs,shim/vm_backend.c ...)
#   SHIM_LIBS += $(LIBS_FOO)
# The link recipe uses $^ and the recursively expanded SHIM_LIBS.
SHIM_CLI_SRCS := shim/shim_cli.c
SHIM_CORE_SRCS := shim/backend.c shim/task_service.c
SHIM_LIBS = $(LIBS_JSONC) $(LIBS_CAPNG) $(LIBS_PROTOBUF) -lmd

SHIM_SERVE_SRCS := shim/shim_serve.c shim/task_ttrpc.c shim/events.c \
	$(LIB_SRCS_TTRPC) $(PROC_SPAWN_SRCS) $(PROTO_SRCS)

SHIM_SRCS := shim/main.c shim/shim_start.c shim/shim_delete.c \
	shim/shim_daemon.c shim/shim_priv.c \
	$(SHIM_CLI_SRCS) $(SHIM_CORE_SRCS) $(SHIM_SERVE_SRCS)

$(BUILD)/bin/containerd-shim-qemubox-v1: $(call objs,$(SHIM_SRCS) $(LIB_SRCS_BASE))
	@mkdir -p $(@D)
	$(CC) $(QB_LDFLAGS) $^ -o $@ $(SHIM_LIBS)
BINS += containerd-shim-qemubox-v1

$(BUILD)/test/test_shim_cli: $(call asan_objs,tests/unit/test_shim_cli.c $(SHIM_CLI_SRCS) shim/shim_delete.c shim/shim_start.c $(SHIM_CORE_SRCS) $(LIB_SRCS_BASE) $(LIB_SRCS_TTRPC) $(PROTO_SRCS))
	@mkdir -p $(@D)
	$(CC) $(SAN_FLAGS) $^ -o $@ $(LIBS_CMOCKA) $(LIBS_JSONC) $(LIBS_PROTOBUF) -lmd
UNIT_TESTS += $(BUILD)/test/test_shim_cli

$(BUILD)/test/test_shim_priv: $(call asan_objs,tests/unit/test_shim_priv.c shim/shim_priv.c $(LIB_SRCS_BASE))
	@mkdir -p $(@D)
	$(CC) $(SAN_FLAGS) $^ -o $@ $(LIBS_CMOCKA) $(LIBS_CAPNG)
UNIT_TESTS += $(BUILD)/test/test_shim_priv

$(BUILD)/test/test_shim_task: $(call asan_objs,tests/unit/test_shim_task.c shim/task_service.c $(LIB_SRCS_BASE))
	@mkdir -p $(@D)
	$(CC) $(SAN_FLAGS) $^ -o $@ $(LIBS_CMOCKA)
UNIT_TESTS += $(BUILD)/test/test_shim_task

$(BUILD)/test/test_shim_events: $(call asan_objs,tests/unit/test_shim_events.c shim/events.c shim/shim_start.c shim/shim_cli.c $(LIB_SRCS_BASE) $(LIB_SRCS_TTRPC) $(PROTO_SRCS))
	@mkdir -p $(@D)
	$(CC) $(SAN_FLAGS) $^ -o $@ $(LIBS_CMOCKA) $(LIBS_PROTOBUF) $(LIBS_JSONC) -lmd
UNIT_TESTS += $(BUILD)/test/test_shim_events

$(BUILD)/test/test_shim_ttrpc: $(call asan_objs,tests/unit/test_shim_ttrpc.c shim/task_ttrpc.c shim/task_service.c $(LIB_SRCS_BASE) $(LIB_SRCS_TTRPC) $(PROTO_SRCS))
	@mkdir -p $(@D)
	$(CC) $(SAN_FLAGS) $^ -o $@ $(LIBS_CMOCKA) $(LIBS_PROTOBUF)
UNIT_TESTS += $(BUILD)/test/test_shim_ttrpc

$(BUILD)/fuzz-bin/fuzz_shim_task: $(call fuzz_objs,tests/fuzz/fuzz_shim_task.c shim/task_ttrpc.c shim/task_service.c $(LIB_SRCS_TTRPC) $(LIB_SRCS_BASE))
	@mkdir -p $(@D)
	$(FUZZCC) -fsanitize=fuzzer,address,undefined $^ -o $@ $(LIBS_PROTOBUF)
FUZZERS += $(BUILD)/fuzz-bin/fuzz_shim_task
