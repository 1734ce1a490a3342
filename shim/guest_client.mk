# shim/guest_client (+ the shared channel code it needs): the host-side client
# of the guest API. The shim links $(SHIM_GUEST_SRCS) and $(LIBS_PROTOBUF).
SHIM_GUEST_SRCS := shim/guest_client.c lib/chan.c lib/chan_rpc.c lib/chan_pump.c \
	$(GUEST_PROTO_SRCS)
