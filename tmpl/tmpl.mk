# tmpl/: qemubox-tmpl, the template holder (cloning, issue 19). It drives
# its vmmons with the shim's stub (shim/vmmon_client over the imsg client
# core) and waits for the guest with the shim's guest client.
TMPL_SRCS_MATCH := tmpl/tmpl_match.c vmmon/qemu_argv.c

TMPL_SRCS := tmpl/tmpl.c tmpl/tmpl_priv.c tmpl/tmpl_boot.c tmpl/tmpl_serve.c \
	$(TMPL_SRCS_MATCH) \
	shim/vmmon_client.c shim/imsg_client.c $(SHIM_GUEST_SRCS) \
	lib/evloop.c lib/proc_spawn.c lib/vmmon_args.c lib/tap_open.c lib/ids_drop.c \
	lib/landlock.c lib/unix_addr.c $(SANDBOX_HOST_LIB_SRCS) \
	seccomp/tmpl.c $(SECCOMP_SRCS_BASE) \
	$(IMSG_SRCS) $(IMSG_PEER_SRCS) lib/config.c lib/log.c lib/error.c lib/path.c

$(BUILD)/libexec/qemubox-tmpl: $(call objs,$(TMPL_SRCS))
	@mkdir -p $(@D)
	$(CC) $(QB_LDFLAGS) $^ -o $@ $(LIBS_JSONC) $(LIBS_SECCOMP) $(LIBS_CAPNG) $(LIBS_PROTOBUF) $(LIBS_BSD)
LIBEXEC_BINS += qemubox-tmpl
