# proto/proto.mk: containerd-facing messages (ttrpc envelope, Task API,
# events, cgroups v2 stats), compiled by protoc-c into build/gen/proto/.
# Include as "proto/<name>.pb-c.h"; link $(PROTO_SRCS) and $(LIBS_PROTOBUF).
# protoc-c's INIT macros cast away const, so only the generated objects get
# -Wno-cast-qual.
PROTO_NAMES := google_protobuf google_rpc ttrpc containerd_types \
	containerd_task_types task events_task events_ttrpc cgroups_v2 \
	runtimeoptions bootstrap
PROTO_FILES := $(addprefix proto/,$(addsuffix .proto,$(PROTO_NAMES)))
PROTO_SRCS := $(addprefix $(BUILD)/gen/proto/,$(addsuffix .pb-c.c,$(PROTO_NAMES)))
PROTO_HDRS := $(PROTO_SRCS:.c=.h)
# The ttrpc envelope alone (lib/ttrpc_msg.c; the guest channel needs no more).
PROTO_TTRPC_SRCS := $(addprefix $(BUILD)/gen/proto/, \
	google_protobuf.pb-c.c google_rpc.pb-c.c ttrpc.pb-c.c)

$(PROTO_SRCS) $(PROTO_HDRS) &: $(PROTO_FILES)
	@mkdir -p $(BUILD)/gen
	protoc-c --c_out=$(BUILD)/gen $(PROTO_FILES)

GEN_HEADERS += $(PROTO_HDRS)

$(call objs,$(PROTO_SRCS)) $(call asan_objs,$(PROTO_SRCS)) $(call fuzz_objs,$(PROTO_SRCS)): \
	EXTRA_CFLAGS += -Wno-cast-qual
