# lib/ttrpc.mk: the event loop, ttrpc framing, server and client.
# Users link $(LIB_SRCS_EVLOOP) and/or $(LIB_SRCS_TTRPC) (which includes the
# loop and needs $(PROTO_SRCS) + $(LIBS_PROTOBUF) once the server is in).
LIB_SRCS_EVLOOP := lib/evloop.c
LIB_SRCS_TTRPC_FRAME := lib/ttrpc_frame.c
