# seccomp/: the shared loader plus one allowlist file per role (seccomp/<role>.c).
# Link with $(LIBS_SECCOMP).
SECCOMP_SRCS_BASE := seccomp/seccomp.c seccomp/seccomp_base.c
SECCOMP_ROLE_SRCS := seccomp/shim.c seccomp/privnet.c seccomp/vmmon.c seccomp/spawner.c \
	seccomp/fsd.c seccomp/tmpl.c
