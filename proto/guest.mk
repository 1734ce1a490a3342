# proto/guest.proto -> build/gen/proto/guest.pb-c.[ch] (the guest API messages).
# protoc-c's output casts away const in its INIT macros; only the generated
# objects get -Wno-cast-qual (our code calls the *_init() functions instead).
GUEST_PROTO_C := $(BUILD)/gen/proto/guest.pb-c.c
GUEST_PROTO_H := $(BUILD)/gen/proto/guest.pb-c.h
GUEST_PROTO_SRCS := $(GUEST_PROTO_C)

$(GUEST_PROTO_C) $(GUEST_PROTO_H) &: proto/guest.proto
	@mkdir -p $(BUILD)/gen
	protoc-c --c_out=$(BUILD)/gen proto/guest.proto

GEN_HEADERS += $(GUEST_PROTO_H)

$(call objs,$(GUEST_PROTO_C)) $(call asan_objs,$(GUEST_PROTO_C)) $(call fuzz_objs,$(GUEST_PROTO_C)): \
	EXTRA_CFLAGS += -Wno-cast-qual
