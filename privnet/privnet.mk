# privnet/: qemubox-privnet (root network helper) and qemubox-cleanup.
# Pure parsing/validation (no syscalls), shared with the unit tests.
PRIVNET_PURE_SRCS := privnet/cni_result.c privnet/cni_config.c \
	privnet/privnet_validate.c privnet/net_claim.c lib/owner.c

# Every object of qemubox-privnet. It reads the configuration itself.
PRIVNET_SRCS := privnet/privnet.c privnet/privnet_priv.c lib/caps_keep.c privnet/privnet_net.c \
	privnet/cni_exec.c privnet/netns.c privnet/tap.c lib/tap_open.c privnet/netdb.c \
	$(PRIVNET_PURE_SRCS) $(SECCOMP_BPF_SRCS) \
	$(IMSG_SRCS) $(IMSG_PEER_SRCS) $(IMSG_SERVE_SRCS) lib/config.c lib/log.c lib/error.c \
	lib/startprof.c lib/malloc_tune.c
EXTRA_CFLAGS += $(CFLAGS_NL)

$(BUILD)/libexec/qemubox-privnet: $(call objs,$(PRIVNET_SRCS))
	@mkdir -p $(@D)
	$(CC) $(QB_HELPER_LDFLAGS) $^ -o $@ $(LIBS_JSONC) \
	    $(LIBS_CAPNG) $(LIBS_NL) $(LIBS_LMDB) $(LIBS_BSD) -lmd
LIBEXEC_BINS += qemubox-privnet

# Every object of qemubox-cleanup.
CLEANUP_SRCS := privnet/cleanup.c privnet/privnet_net.c privnet/cni_exec.c \
	privnet/netns.c privnet/tap.c lib/tap_open.c privnet/netdb.c $(PRIVNET_PURE_SRCS) \
	$(SANDBOX_HOST_LIB_SRCS) lib/config.c lib/log.c lib/error.c

$(BUILD)/bin/qemubox-cleanup: $(call objs,$(CLEANUP_SRCS))
	@mkdir -p $(@D)
	$(CC) $(QB_LDFLAGS) $^ -o $@ $(LIBS_JSONC) $(LIBS_NL) $(LIBS_LMDB) $(LIBS_BSD)
BINS += qemubox-cleanup
