# lib/ttrpc.mk: the event loop, ttrpc framing, server and client.
# Users link $(LIB_SRCS_EVLOOP) and/or $(LIB_SRCS_TTRPC) (which includes the
# loop and needs $(PROTO_SRCS) + $(LIBS_PROTOBUF) once the server is in).
LIB_SRCS_EVLOOP := lib/evloop.c
LIB_SRCS_TTRPC_FRAME := lib/ttrpc_frame.c
LIB_SRCS_TTRPC_CORE := lib/ttrpc.c lib/ttrpc_client.c lib/ttrpc_frame.c $(TTRPC_MSG_SRCS) \
	lib/evloop.c
# Recursive on purpose: PROTO_SRCS is defined by proto/proto.mk, which is
# included after lib/. ($^ drops duplicates if a link line also names
# $(PROTO_SRCS).) Link with $(LIBS_PROTOBUF).
LIB_SRCS_TTRPC = $(LIB_SRCS_TTRPC_CORE) $(PROTO_SRCS)
