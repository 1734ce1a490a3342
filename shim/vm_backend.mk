# shim/vm_backend: the VM backend of the Task service (+ the stdio relay).
# Linked into the shim; it brings the clients of privnet, vmmon and the guest.
VM_BACKEND_SRCS := shim/vm_backend.c shim/stdio_relay.c shim/privnet_client.c \
	shim/vmmon_client.c $(SHIM_GUEST_SRCS) $(IMSG_SRCS)

$(BUILD)/bin/containerd-shim-qemubox-v1: $(call objs,$(VM_BACKEND_SRCS))
SHIM_LIBS += $(LIBS_BSD)
