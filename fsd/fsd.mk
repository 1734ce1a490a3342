# fsd/: qemubox-fsd, the volume helper that starts a confined virtiofsd per
# sandbox (docs/STORAGE.md "Volumes"). Its unit test: tests/unit/helpers.mk.
FSD_PURE_SRCS := fsd/fsd_validate.c

# Every object of qemubox-fsd.
FSD_SRCS := fsd/fsd.c fsd/fsd_priv.c lib/caps_keep.c lib/fdpass.c fsd/fsd_spawn.c fsd/fsd_share.c $(FSD_PURE_SRCS) \
	seccomp/fsd.c $(SECCOMP_SRCS_BASE) $(IMSG_SRCS) $(IMSG_PEER_SRCS) $(IMSG_SERVE_SRCS) lib/log.c lib/error.c

$(BUILD)/libexec/qemubox-fsd: $(call objs,$(FSD_SRCS))
	@mkdir -p $(@D)
	$(CC) $(QB_HELPER_LDFLAGS) $^ -o $@ \
	    $(LIBS_SECCOMP) $(LIBS_CAPNG) $(LIBS_BSD) -lmd
LIBEXEC_BINS += qemubox-fsd
