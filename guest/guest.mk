# guest/: the VM side. vminitd (our PID 1, static) and the guest image:
# Debian's cloud kernel + an initrd with vminitd as /init, the modules of
# guest/modules.list and crun with its shared objects (guest/mkinitrd.sh).
#
# The guest API agent adds its sources and libraries from its own fragment,
# which must sort before this one (guest/agent.mk does):
#   VMINITD_SRCS += guest/agent.c ...
#   VMINITD_LIBS += $(LIBS_PROTOBUF) ...
GUEST_OUT := $(BUILD)/guest
CRUN      ?= /usr/bin/crun

VMINITD_SRCS += guest/vminitd.c guest/pid1.c $(LIB_SRCS_BASE)
VMINITD_LIBS +=

# Static: the initrd then needs no libc of its own for PID 1, and a
# container cannot swap a library under it.
$(GUEST_OUT)/vminitd: $(call objs,$(VMINITD_SRCS))
	@mkdir -p $(@D)
	$(CC) -static-pie -Wl,-z,relro,-z,now $(LDFLAGS) $^ -o $@ $(VMINITD_LIBS)

$(GUEST_OUT)/qemubox-kernel-x86_64: guest/mkkernel.sh
	guest/mkkernel.sh $(GUEST_OUT)

$(GUEST_OUT)/qemubox-initrd: $(GUEST_OUT)/vminitd $(GUEST_OUT)/qemubox-kernel-x86_64 \
    guest/mkinitrd.sh guest/modules.list $(wildcard $(CRUN))
	guest/mkinitrd.sh $(GUEST_OUT)/vminitd $(GUEST_OUT)/kroot \
	    "$$(cat $(GUEST_OUT)/kernel.version)" guest/modules.list $(CRUN) $@

.PHONY: guest
guest: $(GUEST_OUT)/qemubox-kernel-x86_64 $(GUEST_OUT)/qemubox-initrd
ALL_EXTRA += guest

# Empty first and last lines: INSTALL_EXTRA += joins fragments with a space,
# and each fragment's commands must stay separate recipe lines.
define INSTALL_GUEST

	install -d $(DESTDIR)$(SHAREDIR)/kernel
	install -m 0644 $(GUEST_OUT)/qemubox-kernel-x86_64 $(GUEST_OUT)/qemubox-initrd $(DESTDIR)$(SHAREDIR)/kernel/

endef
INSTALL_EXTRA += $(INSTALL_GUEST)

$(BUILD)/test/test_pid1: $(call asan_objs,tests/unit/test_pid1.c guest/pid1.c $(LIB_SRCS_BASE))
	@mkdir -p $(@D)
	$(CC) $(SAN_FLAGS) $^ -o $@ $(LIBS_CMOCKA)
UNIT_TESTS += $(BUILD)/test/test_pid1
