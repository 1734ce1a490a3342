# spawner/: qemubox-spawner (root, started by the shim before it drops its
# capabilities) and qemubox-layerbuild (one confined EROFS build per layer).
SPAWNER_VALIDATE_SRCS := spawner/spawn_validate.c
SPAWNER_SRCS := spawner/spawner.c $(SPAWNER_VALIDATE_SRCS) vmmon/elf_deps.c \
	seccomp/spawner.c $(SECCOMP_SRCS_BASE) $(LIB_SRCS_LANDLOCK) $(IMSG_SRCS) $(IMSG_SERVE_SRCS) $(LIB_SRCS_BASE)
LAYERBUILD_SRCS := spawner/layerbuild.c vmmon/elf_deps.c seccomp/spawner.c \
	$(SECCOMP_SRCS_BASE) $(LIB_SRCS_LANDLOCK) $(LIB_SRCS_BASE)

$(BUILD)/libexec/qemubox-spawner: $(call objs,$(SPAWNER_SRCS))
	@mkdir -p $(@D)
	$(CC) $(QB_HELPER_LDFLAGS) $^ -o $@ \
	    $(LIBS_SECCOMP) $(LIBS_CAPNG) $(LIBS_BSD) -lmd
LIBEXEC_BINS += qemubox-spawner

$(BUILD)/libexec/qemubox-layerbuild: $(call objs,$(LAYERBUILD_SRCS))
	@mkdir -p $(@D)
	$(CC) $(QB_LDFLAGS) $^ -o $@ $(LIBS_SECCOMP)
LIBEXEC_BINS += qemubox-layerbuild
