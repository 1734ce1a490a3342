# privnet/: qemubox-privnet (root network helper) and qemubox-cleanup.
PRIVNET_PURE_SRCS := privnet/cni_result.c privnet/cni_config.c \
	privnet/privnet_validate.c privnet/net_claim.c lib/owner.c

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

# qemubox-privnet reads the configuration itself: it needs lib/config.c.
ifneq ($(CONFIG_SRCS),)
PRIVNET_SRCS := privnet/privnet.c privnet/privnet_priv.c privnet/privnet_net.c \
	privnet/cni_exec.c privnet/netns.c privnet/tap.c privnet/netdb.c \
	$(PRIVNET_PURE_SRCS) seccomp/privnet.c $(IMSG_PEER_SRCS)
EXTRA_CFLAGS += $(CFLAGS_NL)

$(BUILD)/libexec/qemubox-privnet: $(call objs,$(PRIVNET_SRCS) $(CONFIG_SRCS) $(IMSG_SRCS) $(SECCOMP_SRCS_BASE) $(LIB_SRCS_BASE))
	@mkdir -p $(@D)
	$(CC) $(QB_LDFLAGS) $^ -o $@ $(LIBS_JSONC) $(LIBS_SECCOMP) $(LIBS_CAPNG) $(LIBS_NL) $(LIBS_LMDB) $(LIBS_BSD)
LIBEXEC_BINS += qemubox-privnet
endif

# The shim's client stubs, and a driver playing the shim for the component test.
PRIVNET_CLIENT_SRCS := shim/privnet_client.c

$(BUILD)/test/privnet_driver: $(call objs,tests/component/privnet_driver.c $(PRIVNET_CLIENT_SRCS) $(IMSG_SRCS) $(LIB_SRCS_BASE))
	@mkdir -p $(@D)
	$(CC) $(QB_LDFLAGS) $^ -o $@ $(LIBS_BSD)
ALL_EXTRA += $(BUILD)/test/privnet_driver

ifneq ($(CONFIG_SRCS),)
CLEANUP_SRCS := privnet/cleanup.c privnet/privnet_net.c privnet/cni_exec.c \
	privnet/netns.c privnet/tap.c privnet/netdb.c $(PRIVNET_PURE_SRCS)

$(BUILD)/bin/qemubox-cleanup: $(call objs,$(CLEANUP_SRCS) $(CONFIG_SRCS) $(LIB_SRCS_BASE))
	@mkdir -p $(@D)
	$(CC) $(QB_LDFLAGS) $^ -o $@ $(LIBS_JSONC) $(LIBS_NL) $(LIBS_LMDB) $(LIBS_BSD)
BINS += qemubox-cleanup
endif

$(BUILD)/test/test_cni_privnet_client: $(call asan_objs,tests/unit/test_cni_privnet_client.c $(PRIVNET_CLIENT_SRCS) privnet/netdb.c $(PRIVNET_PURE_SRCS) $(IMSG_SRCS) $(LIB_SRCS_BASE))
	@mkdir -p $(@D)
	$(CC) $(SAN_FLAGS) $^ -o $@ $(LIBS_JSONC) $(LIBS_LMDB) $(LIBS_BSD) $(LIBS_CMOCKA)
UNIT_TESTS += $(BUILD)/test/test_cni_privnet_client

# The liveness rule (pure) and the facts it reads: start times, netdb records.
$(BUILD)/test/test_privnet_claim: $(call asan_objs,tests/unit/test_privnet_claim.c privnet/netdb.c $(PRIVNET_PURE_SRCS) $(LIB_SRCS_BASE))
	@mkdir -p $(@D)
	$(CC) $(SAN_FLAGS) $^ -o $@ $(LIBS_JSONC) $(LIBS_LMDB) $(LIBS_CMOCKA)
UNIT_TESTS += $(BUILD)/test/test_privnet_claim
