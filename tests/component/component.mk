# Drivers and helpers of tests/component/*.sh (normal builds, never installed).

# 30-guest-api.sh: boots the guest and drives the API; 31-guest-clone.sh:
# the same driver as a template VM and its clones (QB_CLONE_ROLE).
$(BUILD)/test/guest_driver: $(call objs,tests/component/guest_driver.c $(SHIM_GUEST_SRCS) lib/fdpass.c \
    $(LIB_SRCS_EVLOOP) $(LIB_SRCS_BASE) $(BUILD)/gen/proto/cgroups_v2.pb-c.c)
	@mkdir -p $(@D)
	$(CC) $(QB_LDFLAGS) $^ -o $@ $(LIBS_PROTOBUF) $(LIBS_JSONC) -lmd

# 50-privnet.sh: plays the shim against qemubox-privnet (the shim's client).
$(BUILD)/test/privnet_driver: $(call objs,tests/component/privnet_driver.c shim/privnet_client.c shim/imsg_client.c $(LIB_SRCS_EVLOOP) $(IMSG_SRCS) $(LIB_SRCS_BASE))
	@mkdir -p $(@D)
	$(CC) $(QB_LDFLAGS) $^ -o $@ $(LIBS_BSD)

# 40-vmmon.sh: a driver playing the shim, a binary that loads the vmmon
# filter then makes a forbidden call, and a fake QEMU.
$(BUILD)/test/vmmon-driver: $(call objs,tests/component/vmmon-driver.c shim/vmmon_client.c shim/imsg_client.c $(LIB_SRCS_EVLOOP) $(PROC_SPAWN_SRCS) $(IMSG_SRCS) $(LIB_SRCS_BASE))
	@mkdir -p $(@D)
	$(CC) $(QB_LDFLAGS) $^ -o $@ $(LIBS_BSD)
$(BUILD)/test/vmmon-seccomp-helper: $(call objs,tests/component/vmmon-seccomp-helper.c $(SECCOMP_BPF_SRCS) $(LIB_SRCS_BASE))
	@mkdir -p $(@D)
	$(CC) $(QB_LDFLAGS) $^ -o $@
# Static: it runs in vmmon's jail, which holds only what QEMU links.
$(BUILD)/test/vmmon-fake-qemu: $(call objs,tests/component/vmmon-fake-qemu.c)
	@mkdir -p $(@D)
	$(CC) -static $^ -o $@

# 20-guest-image.sh: the test image's PID 1, vminitd with
# tests/component/vminitd_selftest.c in place of guest/vminitd.c (the suite
# packs it into an initrd of its own).
VMINITD_SELFTEST_SRCS := tests/component/vminitd_selftest.c \
	$(filter-out guest/vminitd.c,$(VMINITD_SRCS))
$(BUILD)/test/vminitd-selftest: $(call objs,$(VMINITD_SELFTEST_SRCS))
	@mkdir -p $(@D)
	$(CC) -static-pie -Wl,-z,relro,-z,now $(LDFLAGS) $^ -o $@ $(VMINITD_LIBS)

# Plays a shim toward qemubox-tmpl (44-tmpl.sh) through shim/tmpl_client.
$(BUILD)/test/tmpl-driver: $(call objs,tests/component/tmpl-driver.c shim/tmpl_client.c shim/tmpl_spawn.c $(PROC_SPAWN_SRCS) lib/unix_addr.c $(CONFIG_SRCS) $(IMSG_SRCS) $(LIB_SRCS_BASE))
	@mkdir -p $(@D)
	$(CC) $(QB_LDFLAGS) $^ -o $@ $(LIBS_JSONC) $(LIBS_BSD)

ALL_EXTRA += $(BUILD)/test/tmpl-driver
ALL_EXTRA += $(BUILD)/test/guest_driver $(BUILD)/test/privnet_driver \
	$(BUILD)/test/vminitd-selftest \
	$(BUILD)/test/vmmon-driver $(BUILD)/test/vmmon-seccomp-helper \
	$(BUILD)/test/vmmon-fake-qemu
