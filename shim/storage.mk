# shim/storage: mount translation (rootfs + spec mounts -> plan) and the EROFS
# layer cache, linked into the shim (last rule). Tests link $(LIBS_STORAGE).
STORAGE_SRCS := shim/storage.c shim/layer_cache.c
LIBS_MD      := -lmd
LIBS_STORAGE := $(LIBS_JSONC) $(LIBS_MD)

$(BUILD)/test/test_storage: $(call asan_objs,tests/unit/test_storage.c $(STORAGE_SRCS) $(LIB_SRCS_BASE))
	@mkdir -p $(@D)
	$(CC) $(SAN_FLAGS) $^ -o $@ $(LIBS_CMOCKA) $(LIBS_STORAGE)
UNIT_TESTS += $(BUILD)/test/test_storage

# Also the driver of tests/component/60-layer-cache.sh when given arguments.
$(BUILD)/test/test_layer_cache: $(call asan_objs,tests/unit/test_layer_cache.c $(STORAGE_SRCS) $(LIB_SRCS_BASE))
	@mkdir -p $(@D)
	$(CC) $(SAN_FLAGS) $^ -o $@ $(LIBS_CMOCKA) $(LIBS_STORAGE)
UNIT_TESTS += $(BUILD)/test/test_layer_cache
ALL_EXTRA  += $(BUILD)/test/test_layer_cache

# Plan -> guest CreateRequest fields (needs the guest API messages).
STORAGE_GUEST_SRCS := shim/storage_guest.c

$(BUILD)/test/test_storage_guest: $(call asan_objs,tests/unit/test_storage_guest.c $(STORAGE_GUEST_SRCS) $(STORAGE_SRCS) $(GUEST_PROTO_SRCS) $(LIB_SRCS_BASE))
	@mkdir -p $(@D)
	$(CC) $(SAN_FLAGS) $^ -o $@ $(LIBS_CMOCKA) $(LIBS_STORAGE) $(LIBS_PROTOBUF)
UNIT_TESTS += $(BUILD)/test/test_storage_guest

# Layer builds off the shim's event loop (a forked builder).
STORAGE_ASYNC_SRCS := shim/storage_async.c

$(BUILD)/test/test_storage_async: $(call asan_objs,tests/unit/test_storage_async.c $(STORAGE_ASYNC_SRCS) $(STORAGE_SRCS) $(LIB_SRCS_EVLOOP) $(LIB_SRCS_BASE))
	@mkdir -p $(@D)
	$(CC) $(SAN_FLAGS) $^ -o $@ $(LIBS_CMOCKA) $(LIBS_STORAGE)
UNIT_TESTS += $(BUILD)/test/test_storage_async

# Into the shim (its link recipe uses $^ and SHIM_LIBS, which has json-c and -lmd).
$(BUILD)/bin/containerd-shim-qemubox-v1: $(call objs,$(STORAGE_SRCS) $(STORAGE_GUEST_SRCS) $(STORAGE_ASYNC_SRCS) $(LIB_SRCS_EVLOOP) $(GUEST_PROTO_SRCS))
SHIM_LIBS += $(LIBS_PROTOBUF)

# The scratch-disk template (storage_scratch_create): a small ext4 without a
# journal (the writable layer dies with the VM), grown by the guest. Fixed
# UUID, hash seed and time so that the same e2fsprogs gives the same bytes.
MKFS_EXT4 ?= /sbin/mkfs.ext4
SCRATCH_TEMPLATE := $(BUILD)/share/scratch.ext4
$(SCRATCH_TEMPLATE): shim/storage.mk
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

$(BUILD)/fuzz-bin/fuzz_storage: $(call fuzz_objs,tests/fuzz/fuzz_storage.c $(STORAGE_SRCS) $(LIB_SRCS_BASE))
	@mkdir -p $(@D)
	$(FUZZCC) -fsanitize=fuzzer,address,undefined $^ -o $@ $(LIBS_STORAGE)
FUZZERS += $(BUILD)/fuzz-bin/fuzz_storage
