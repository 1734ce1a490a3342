# guest/agent*: the guest API server linked into vminitd (guest/guest.mk links
# VMINITD_SRCS statically; this fragment sorts before it).
GUEST_AGENT_SRCS := guest/agent.c guest/net_config.c guest/agent_rootfs.c guest/agent_stats.c \
	guest/crun.c lib/chan_pump.c $(BUILD)/gen/proto/cgroups_v2.pb-c.c \
	$(LIB_SRCS_CHAN) $(LIB_SRCS_EVLOOP) $(GUEST_PROTO_SRCS)
VMINITD_SRCS += $(GUEST_AGENT_SRCS)
VMINITD_LIBS += -ljson-c -lprotobuf-c
