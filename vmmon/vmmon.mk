# vmmon/: qemubox-vmmon, the unprivileged VM monitor (jail, QEMU argv from
# fds, QMP). Pieces the unit tests link on their own:
VMMON_SRCS_ARGV := vmmon/qemu_argv.c
VMMON_SRCS_QMP := vmmon/qmp.c

# Every object of qemubox-vmmon. It never reads the config file (the shim
# passes flags) but shares the config types and checks.
VMMON_SRCS := vmmon/vmmon.c vmmon/vmmon_validate.c vmmon/vm_lifecycle.c vmmon/hotplug.c \
	vmmon/disk_hotplug.c vmmon/vm_save.c vmmon/vm_restore.c vmmon/console.c vmmon/vmmon_priv.c vmmon/elf_deps.c vmmon/qemu_launcher.c \
	$(VMMON_SRCS_ARGV) $(VMMON_SRCS_QMP) $(SECCOMP_BPF_SRCS) \
	$(IMSG_SRCS) $(IMSG_PEER_SRCS) lib/config.c lib/ids_drop.c lib/log.c lib/error.c lib/startprof.c lib/malloc_tune.c

$(BUILD)/libexec/qemubox-vmmon: $(call objs,$(VMMON_SRCS))
	@mkdir -p $(@D)
	$(CC) $(QB_HELPER_LDFLAGS) $^ -o $@ \
	    $(LIBS_JSONC) $(LIBS_CAPNG) $(LIBS_BSD) -lmd
LIBEXEC_BINS += qemubox-vmmon
