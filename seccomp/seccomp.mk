# seccomp/: the shared loader plus one allowlist file per role (seccomp/<role>.c).
SECCOMP_SRCS_BASE := seccomp/seccomp.c
