# lib/config: /etc/qemubox/config.json loader (json-c). Link CONFIG_SRCS with
# $(LIB_SRCS_BASE) and $(LIBS_JSONC).
CONFIG_SRCS := lib/config.c

$(BUILD)/test/test_config: $(call asan_objs,tests/unit/test_config.c $(CONFIG_SRCS) $(LIB_SRCS_BASE))
	@mkdir -p $(@D)
	$(CC) $(SAN_FLAGS) $^ -o $@ $(LIBS_CMOCKA) $(LIBS_JSONC)
UNIT_TESTS += $(BUILD)/test/test_config

$(BUILD)/fuzz-bin/fuzz_config: $(call fuzz_objs,tests/fuzz/fuzz_config.c $(CONFIG_SRCS) $(LIB_SRCS_BASE))
	@mkdir -p $(@D)
	$(FUZZCC) -fsanitize=fuzzer,address,undefined $^ -o $@ $(LIBS_JSONC)
FUZZERS += $(BUILD)/fuzz-bin/fuzz_config

# The shim's --check-config calls qb_config_check_main (a weak reference in
# shim/shim_daemon.c): link the loader into it. Make drops duplicate
# prerequisites, so the shim fragment may list CONFIG_SRCS too.
$(BUILD)/bin/containerd-shim-qemubox-v1: $(call objs,$(CONFIG_SRCS))

# `make install` puts the example in place as the default configuration, with
# share_dir following SHAREDIR, but never overwrites an existing file.
# Empty first and last lines: INSTALL_EXTRA += joins fragments with a space.
define INSTALL_CONFIG

	install -d $(DESTDIR)$(SYSCONFDIR)/qemubox
	[ -e $(DESTDIR)$(SYSCONFDIR)/qemubox/config.json ] || sed 's|"/usr/share/qemubox"|"$(SHAREDIR)"|' examples/config.json > $(DESTDIR)$(SYSCONFDIR)/qemubox/config.json

endef
INSTALL_EXTRA += $(INSTALL_CONFIG)
