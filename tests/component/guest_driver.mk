# Driver of tests/component/30-guest-api.sh (boots the guest, drives the API).
$(BUILD)/test/guest_driver: $(call objs,tests/component/guest_driver.c $(SHIM_GUEST_SRCS) \
    $(LIB_SRCS_EVLOOP) $(LIB_SRCS_BASE) $(BUILD)/gen/proto/cgroups_v2.pb-c.c)
	@mkdir -p $(@D)
	$(CC) $(QB_LDFLAGS) $^ -o $@ $(LIBS_PROTOBUF) $(LIBS_JSONC) -lmd
ALL_EXTRA += $(BUILD)/test/guest_driver
