# guest/: the VM side. vminitd (our PID 1, static) and the guest image:
# Debian's cloud kernel + an initrd with vminitd as /init, the modules of
# guest/modules.list and crun with its shared objects (guest/mkinitrd.sh).
GUEST_OUT := $(BUILD)/guest
CRUN      ?= /usr/bin/crun

# Every object of vminitd: PID 1 and the guest API agent (guest/agent_int.h
# maps the agent's files).
VMINITD_SRCS := guest/vminitd.c guest/pid1.c guest/gfile.c \
	guest/agent.c guest/agent_proc.c guest/agent_stdio.c guest/agent_ctr.c \
	guest/agent_oom.c guest/agent_vm.c guest/agent_exec.c \
	guest/net_config.c guest/agent_rootfs.c guest/agent_stats.c \
	guest/agent_vmstats.c \
	guest/crun.c lib/chan.c lib/chan_rpc.c lib/chan_pump.c lib/ttrpc_frame.c \
	lib/ttrpc_msg.c lib/evloop.c lib/log.c lib/error.c \
	$(PROTO_TTRPC_SRCS) $(BUILD)/gen/proto/cgroups_v2.pb-c.c $(GUEST_PROTO_SRCS)
VMINITD_LIBS := -ljson-c -lprotobuf-c

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
