# Unit tests (cmocka, ASan/UBSan) of shim/: each links the shim files under
# test plus fakes, never the production main (shim/main.c).
$(BUILD)/test/test_shim_cli: $(call asan_objs,tests/unit/test_shim_cli.c shim/shim_cli.c shim/oci_spec.c shim/shim_delete.c shim/shim_start.c lib/startprof.c lib/proc_spawn.c shim/task_service.c $(LIB_SRCS_BASE) $(LIB_SRCS_TTRPC))
	@mkdir -p $(@D)
	$(CC) $(SAN_FLAGS) $^ -o $@ $(LIBS_CMOCKA) $(LIBS_JSONC) $(LIBS_PROTOBUF) -lmd
UNIT_TESTS += $(BUILD)/test/test_shim_cli

$(BUILD)/test/test_shim_priv: $(call asan_objs,tests/unit/test_shim_priv.c shim/shim_priv.c $(LIB_SRCS_BASE))
	@mkdir -p $(@D)
	$(CC) $(SAN_FLAGS) $^ -o $@ $(LIBS_CMOCKA) $(LIBS_CAPNG)
UNIT_TESTS += $(BUILD)/test/test_shim_priv

$(BUILD)/test/test_shim_confine: $(call asan_objs,tests/unit/test_shim_confine.c $(SHIM_CONFINE_SRCS) $(CONFIG_SRCS) $(LIB_SRCS_BASE))
	@mkdir -p $(@D)
	$(CC) $(SAN_FLAGS) $^ -o $@ $(LIBS_CMOCKA) $(LIBS_SECCOMP) $(LIBS_JSONC)
UNIT_TESTS += $(BUILD)/test/test_shim_confine

$(BUILD)/test/test_shim_task: $(call asan_objs,tests/unit/test_shim_task.c shim/task_service.c $(LIB_SRCS_BASE))
	@mkdir -p $(@D)
	$(CC) $(SAN_FLAGS) $^ -o $@ $(LIBS_CMOCKA)
UNIT_TESTS += $(BUILD)/test/test_shim_task

$(BUILD)/test/test_shim_events: $(call asan_objs,tests/unit/test_shim_events.c shim/events.c shim/shim_start.c lib/startprof.c lib/proc_spawn.c shim/shim_cli.c shim/oci_spec.c $(LIB_SRCS_BASE) $(LIB_SRCS_TTRPC))
	@mkdir -p $(@D)
	$(CC) $(SAN_FLAGS) $^ -o $@ $(LIBS_CMOCKA) $(LIBS_PROTOBUF) $(LIBS_JSONC) -lmd
UNIT_TESTS += $(BUILD)/test/test_shim_events

$(BUILD)/test/test_shim_ttrpc: $(call asan_objs,tests/unit/test_shim_ttrpc.c shim/task_ttrpc.c shim/task_service.c $(LIB_SRCS_BASE) $(LIB_SRCS_TTRPC))
	@mkdir -p $(@D)
	$(CC) $(SAN_FLAGS) $^ -o $@ $(LIBS_CMOCKA) $(LIBS_PROTOBUF)
UNIT_TESTS += $(BUILD)/test/test_shim_ttrpc

# shim/guest_client (+ the channel code) against a fake guest.

$(BUILD)/test/test_guest_client: $(call asan_objs,tests/unit/test_guest_client.c tests/unit/fake_guest.c \
    $(SHIM_GUEST_SRCS) $(LIB_SRCS_EVLOOP) $(LIB_SRCS_BASE))
	@mkdir -p $(@D)
	$(CC) $(SAN_FLAGS) $^ -o $@ $(LIBS_CMOCKA) $(LIBS_PROTOBUF)
UNIT_TESTS += $(BUILD)/test/test_guest_client

# security: a hostile guest against shim/guest_client.
$(BUILD)/test/test_guest_hostile: $(call asan_objs,tests/unit/test_guest_hostile.c tests/unit/fake_guest.c \
    $(SHIM_GUEST_SRCS) $(LIB_SRCS_EVLOOP) $(LIB_SRCS_BASE))
	@mkdir -p $(@D)
	$(CC) $(SAN_FLAGS) $^ -o $@ $(LIBS_CMOCKA) $(LIBS_PROTOBUF)
UNIT_TESTS += $(BUILD)/test/test_guest_hostile

$(BUILD)/test/test_cni_privnet_client: $(call asan_objs,tests/unit/test_cni_privnet_client.c shim/privnet_client.c shim/imsg_client.c $(LIB_SRCS_EVLOOP) privnet/netdb.c $(PRIVNET_PURE_SRCS) $(IMSG_SRCS) $(LIB_SRCS_BASE))
	@mkdir -p $(@D)
	$(CC) $(SAN_FLAGS) $^ -o $@ $(LIBS_JSONC) $(LIBS_LMDB) $(LIBS_BSD) $(LIBS_CMOCKA)
UNIT_TESTS += $(BUILD)/test/test_cni_privnet_client

# The imsg client core under both against a fake peer (IMSG_ERROR composed
# by the helpers' encoder, imsg/qb_imsg_peer.c).
$(BUILD)/test/test_imsg_client: $(call asan_objs,tests/unit/test_imsg_client.c shim/imsg_client.c $(LIB_SRCS_EVLOOP) $(IMSG_SRCS) $(IMSG_PEER_SRCS) $(LIB_SRCS_BASE))
	@mkdir -p $(@D)
	$(CC) $(SAN_FLAGS) $^ -o $@ $(LIBS_CMOCKA) $(LIBS_BSD)
UNIT_TESTS += $(BUILD)/test/test_imsg_client

$(BUILD)/test/test_vmmon_client: $(call asan_objs,tests/unit/test_vmmon_client.c shim/vmmon_client.c shim/imsg_client.c $(LIB_SRCS_EVLOOP) $(IMSG_SRCS) $(LIB_SRCS_BASE))
	@mkdir -p $(@D)
	$(CC) $(SAN_FLAGS) $^ -o $@ $(LIBS_CMOCKA) $(LIBS_BSD)
UNIT_TESTS += $(BUILD)/test/test_vmmon_client

# shim/storage: mount translation and the EROFS layer cache.
LIBS_STORAGE := $(LIBS_JSONC) -lmd $(LIBS_BSD)

$(BUILD)/test/test_storage: $(call asan_objs,tests/unit/test_storage.c $(STORAGE_SRCS) $(LIB_SRCS_BASE))
	@mkdir -p $(@D)
	$(CC) $(SAN_FLAGS) $^ -o $@ $(LIBS_CMOCKA) $(LIBS_STORAGE)
UNIT_TESTS += $(BUILD)/test/test_storage

# Also the driver of tests/component/60-layer-cache.sh when given arguments.
$(BUILD)/test/test_layer_cache: $(call asan_objs,tests/unit/test_layer_cache.c $(STORAGE_SRCS) $(PROC_SPAWN_SRCS) $(LIB_SRCS_BASE))
	@mkdir -p $(@D)
	$(CC) $(SAN_FLAGS) $^ -o $@ $(LIBS_CMOCKA) $(LIBS_STORAGE)
UNIT_TESTS += $(BUILD)/test/test_layer_cache
ALL_EXTRA  += $(BUILD)/test/test_layer_cache

# Plan -> guest CreateRequest fields (needs the guest API messages).
$(BUILD)/test/test_storage_guest: $(call asan_objs,tests/unit/test_storage_guest.c shim/storage_guest.c $(STORAGE_SRCS) $(GUEST_PROTO_SRCS) $(LIB_SRCS_BASE))
	@mkdir -p $(@D)
	$(CC) $(SAN_FLAGS) $^ -o $@ $(LIBS_CMOCKA) $(LIBS_STORAGE) $(LIBS_PROTOBUF)
UNIT_TESTS += $(BUILD)/test/test_storage_guest

# Layer builds off the shim's event loop (a forked builder).
$(BUILD)/test/test_storage_async: $(call asan_objs,tests/unit/test_storage_async.c shim/storage_async.c $(STORAGE_SRCS) $(LIB_SRCS_EVLOOP) $(LIB_SRCS_BASE))
	@mkdir -p $(@D)
	$(CC) $(SAN_FLAGS) $^ -o $@ $(LIBS_CMOCKA) $(LIBS_STORAGE)
UNIT_TESTS += $(BUILD)/test/test_storage_async

# shim/transport: runtime.transport resolved behind a fake probe.
$(BUILD)/test/test_transport: $(call asan_objs,tests/unit/test_transport.c shim/transport.c $(LIB_SRCS_BASE))
	@mkdir -p $(@D)
	$(CC) $(SAN_FLAGS) $^ -o $@ $(LIBS_CMOCKA)
UNIT_TESTS += $(BUILD)/test/test_transport

$(BUILD)/test/test_console_log: $(call asan_objs,tests/unit/test_console_log.c shim/console_log.c $(LIB_SRCS_BASE))
	@mkdir -p $(@D)
	$(CC) $(SAN_FLAGS) $^ -o $@ $(LIBS_CMOCKA)
UNIT_TESTS += $(BUILD)/test/test_console_log

$(BUILD)/test/test_sandbox_host: $(call asan_objs,tests/unit/test_sandbox_host.c $(SANDBOX_HOST_SRCS) $(CONFIG_SRCS) $(LIB_SRCS_BASE))
	@mkdir -p $(@D)
	$(CC) $(SAN_FLAGS) $^ -o $@ $(LIBS_CMOCKA) $(LIBS_JSONC)
UNIT_TESTS += $(BUILD)/test/test_sandbox_host

$(BUILD)/test/test_oci_spec: $(call asan_objs,tests/unit/test_oci_spec.c shim/oci_spec.c $(LIB_SRCS_BASE))
	@mkdir -p $(@D)
	$(CC) $(SAN_FLAGS) $^ -o $@ $(LIBS_CMOCKA) $(LIBS_JSONC)
UNIT_TESTS += $(BUILD)/test/test_oci_spec

$(BUILD)/test/test_shim_env: $(call asan_objs,tests/unit/test_shim_env.c shim/shim_env.c $(LIB_SRCS_BASE))
	@mkdir -p $(@D)
	$(CC) $(SAN_FLAGS) $^ -o $@ $(LIBS_CMOCKA)
UNIT_TESTS += $(BUILD)/test/test_shim_env
