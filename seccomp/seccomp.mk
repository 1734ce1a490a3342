# seccomp/: the shared loader plus one allowlist file per role (seccomp/<role>.c).
# Link with $(LIBS_SECCOMP).
SECCOMP_SRCS_BASE := seccomp/seccomp.c seccomp/seccomp_base.c
SECCOMP_ROLE_SRCS := seccomp/shim.c seccomp/privnet.c seccomp/vmmon.c seccomp/spawner.c \
	seccomp/fsd.c seccomp/tmpl.c

# Filters compiled at build time (seccomp/seccomp_bpf.h): the generator runs
# each role's policy through libseccomp and writes the BPF programs; the
# role's binary links SECCOMP_BPF_SRCS instead of its policy and libseccomp.
SECCOMP_BPF_POLICY_SRCS := seccomp/shim.c seccomp/privnet.c seccomp/vmmon.c
SECCOMP_BPF_GEN := $(BUILD)/gen/seccomp/bpf_data.c
SECCOMP_BPF_SRCS := seccomp/seccomp_bpf.c seccomp/bpf_pids.c $(SECCOMP_BPF_GEN)

$(BUILD)/tools/seccomp-gen-bpf: $(call objs,seccomp/gen_bpf.c seccomp/bpf_pids.c $(SECCOMP_BPF_POLICY_SRCS) \
	$(SECCOMP_SRCS_BASE) lib/log.c lib/error.c)
	@mkdir -p $(@D)
	$(CC) $(QB_LDFLAGS) -Wl,--wrap=seccomp_load $^ -o $@ $(LIBS_SECCOMP)

$(SECCOMP_BPF_GEN): $(BUILD)/tools/seccomp-gen-bpf
	@mkdir -p $(@D)
	$< $@.tmp && mv $@.tmp $@
