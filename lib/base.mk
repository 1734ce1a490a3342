# lib/: shared code that is not a role (logging, errors, ttrpc, protobuf glue,
# JSON helpers, config). Every binary links the pieces it needs from LIB_SRCS_*.
LIB_SRCS_BASE := lib/log.c lib/error.c
