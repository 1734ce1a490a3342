# lib/: shared code that is not a role. Source lists only (no rules): each
# binary's own list names the pieces it links; tests/ reuse these groups.
# Link notes: ttrpc and chan need $(LIBS_PROTOBUF), config $(LIBS_JSONC).
LIB_SRCS_BASE := lib/log.c lib/error.c lib/path.c
CONFIG_SRCS := lib/config.c
LIB_SRCS_EVLOOP := lib/evloop.c
LIB_SRCS_LANDLOCK := lib/landlock.c
# fork+exec of a helper with one inherited fd (shim -> privnet, vmmon).
PROC_SPAWN_SRCS := lib/proc_spawn.c
LIB_SRCS_TTRPC_FRAME := lib/ttrpc_frame.c
# The ttrpc envelope encoder and the generated messages it needs.
TTRPC_MSG_SRCS := lib/ttrpc_msg.c $(PROTO_TTRPC_SRCS)
# Host<->guest channel framing, stdio streams with credit, events.
LIB_SRCS_CHAN := lib/chan.c lib/chan_rpc.c lib/ttrpc_frame.c $(TTRPC_MSG_SRCS)
# What a sandbox holds on the host besides its network (a uid, a cgroup),
# and the owner rule records of crash-surviving state are judged by.
SANDBOX_HOST_LIB_SRCS := lib/owner.c lib/sandbox_cgroup.c lib/sandbox_uid.c
# Event loop, ttrpc framing, server and client, with every containerd message.
LIB_SRCS_TTRPC := lib/ttrpc.c lib/ttrpc_client.c lib/ttrpc_frame.c lib/ttrpc_msg.c \
	lib/evloop.c lib/unix_addr.c $(PROTO_SRCS)

# `make install` puts the example in place as the default configuration, with
# share_dir following SHAREDIR, but never overwrites an existing file.
# Empty first and last lines: INSTALL_EXTRA += joins fragments with a space.
define INSTALL_CONFIG

	install -d $(DESTDIR)$(SYSCONFDIR)/qemubox
	[ -e $(DESTDIR)$(SYSCONFDIR)/qemubox/config.json ] || sed 's|"/usr/share/qemubox"|"$(SHAREDIR)"|' examples/config.json > $(DESTDIR)$(SYSCONFDIR)/qemubox/config.json

endef
INSTALL_EXTRA += $(INSTALL_CONFIG)
