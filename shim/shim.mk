# shim/: containerd-shim-qemubox-v1 (the containerd-facing engine).
#
# SHIM_SRCS is every object of the binary, in three groups. shim/main.c
# names the backend and the confinement (struct shim_wiring), so dropping
# one of their files from this list is a link error, not a shim that serves
# unconfined or without a backend. The test shims of tests/integration link
# SHIM_CORE_SRCS with their own main and backend (tests/integration/*.mk).

# The sandbox's uid and host cgroup, set up before vmmon is spawned.
SANDBOX_HOST_SRCS := shim/sandbox_host.c shim/oci_spec.c $(SANDBOX_HOST_LIB_SRCS)
# The engine: CLI, daemon, privilege drop, Task service over ttrpc, events.
SHIM_CORE_SRCS := shim/shim_main.c shim/shim_cli.c shim/shim_env.c shim/shim_start.c \
	shim/shim_delete.c shim/shim_daemon.c shim/shim_priv.c shim/shim_serve.c \
	shim/task_service.c shim/task_ttrpc.c shim/events.c \
	lib/log.c lib/error.c lib/path.c lib/config.c lib/proc_spawn.c lib/vmmon_args.c \
	shim/tmpl_spawn.c lib/startprof.c \
	lib/evloop.c lib/ttrpc.c lib/ttrpc_client.c lib/ttrpc_frame.c lib/ttrpc_msg.c \
	lib/unix_addr.c $(PROTO_SRCS) $(SANDBOX_HOST_SRCS)
# The VM backend and what it drives: privnet, vmmon, fsd (imsg: one client
# core, shim/imsg_client.c, under typed stubs per helper), the guest
# (lib/chan), storage (mount plan, EROFS layer cache), the stdio relay.
# The guest client and storage are named lists because tests, fuzzers and
# drivers link them alone. (make drops duplicate prerequisites from $^.)
SHIM_GUEST_SRCS := shim/guest_client.c $(LIB_SRCS_CHAN) lib/chan_pump.c \
	$(GUEST_PROTO_SRCS)
STORAGE_SRCS := shim/storage.c shim/layer_cache.c shim/layer_build.c $(IMSG_SRCS)
SHIM_VM_SRCS := shim/vm_backend.c shim/vm_sandbox.c shim/vm_container.c \
	shim/vm_clone.c \
	shim/transport.c shim/stdio_relay.c \
	shim/console_log.c \
	shim/imsg_client.c shim/privnet_client.c shim/vmmon_client.c \
	shim/fsd_client.c shim/tmpl_client.c $(IMSG_SRCS) \
	$(SHIM_GUEST_SRCS) \
	shim/sandbox_hotplug.c shim/hotplug_ctl.c shim/hotplug_policy.c \
	$(STORAGE_SRCS) shim/storage_guest.c shim/storage_async.c
# Confinement after the privilege drop: Landlock + the seccomp allowlist
# (Landlock lets the shim rmdir the sandbox's cgroup: sandbox_host).
SHIM_CONFINE_SRCS := shim/shim_landlock.c lib/landlock.c \
	$(SECCOMP_BPF_SRCS) $(SANDBOX_HOST_SRCS)

SHIM_SRCS := shim/main.c lib/malloc_tune.c $(SHIM_CORE_SRCS) $(SHIM_VM_SRCS) $(SHIM_CONFINE_SRCS)
SHIM_LIBS := $(LIBS_JSONC) $(LIBS_CAPNG) $(LIBS_PROTOBUF) $(LIBS_BSD) -lmd

$(BUILD)/bin/containerd-shim-qemubox-v1: $(call objs,$(SHIM_SRCS))
	@mkdir -p $(@D)
	$(CC) $(QB_HELPER_LDFLAGS) $^ -o $@ $(SHIM_LIBS)
BINS += containerd-shim-qemubox-v1

# The scratch-disk template (storage_scratch_create): a small ext4 without a
# journal (the writable layer dies with the VM), grown by the guest. Fixed
# UUID, hash seed and time so that the same e2fsprogs gives the same bytes.
MKFS_EXT4 ?= /sbin/mkfs.ext4
SCRATCH_TEMPLATE := $(BUILD)/share/scratch.ext4
$(SCRATCH_TEMPLATE): shim/shim.mk
	@mkdir -p $(@D)
	rm -f $@.tmp
	E2FSPROGS_FAKE_TIME=946684800 $(MKFS_EXT4) -q -F -t ext4 -b 4096 \
	    -O ^has_journal -U 7e3b0c42-5f0e-4d4c-9a7a-0e1b6a2f9c01 \
	    -E lazy_itable_init=1,resize=268435456,hash_seed=0c9d8c2e-1f5b-4e6a-8d3c-2b7a1e4f6d90,root_owner=0:0,nodiscard \
	    -L qb-scratch $@.tmp 64M
	mv $@.tmp $@
ALL_EXTRA += $(SCRATCH_TEMPLATE)

define INSTALL_STORAGE

	install -d $(DESTDIR)$(SHAREDIR)
	install -m 0644 $(SCRATCH_TEMPLATE) $(DESTDIR)$(SHAREDIR)/scratch.ext4

endef
INSTALL_EXTRA += $(INSTALL_STORAGE)
