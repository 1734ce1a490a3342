# imsg/: our imsg library (OpenBSD 7.5 API and wire format) and the header of all message types.
# Link IMSG_SRCS objects plus $(LIBS_BSD) (freezero, recallocarray).
IMSG_SRCS := imsg/imsg.c imsg/imsg-buffer.c imsg/qb_imsg.c
# The bad-peer policy of the helpers (privnet, vmmon); needs lib/log.c.
IMSG_PEER_SRCS := imsg/qb_imsg_peer.c

$(BUILD)/test/test_imsg: $(call asan_objs,tests/unit/test_imsg.c $(IMSG_SRCS) $(PROC_SPAWN_SRCS))
	@mkdir -p $(@D)
	$(CC) $(SAN_FLAGS) $^ -o $@ $(LIBS_CMOCKA) $(LIBS_BSD)
UNIT_TESTS += $(BUILD)/test/test_imsg

$(BUILD)/fuzz-bin/fuzz_imsg: $(call fuzz_objs,tests/fuzz/fuzz_imsg.c $(IMSG_SRCS))
	@mkdir -p $(@D)
	$(FUZZCC) -fsanitize=fuzzer,address,undefined $^ -o $@ $(LIBS_BSD)
FUZZERS += $(BUILD)/fuzz-bin/fuzz_imsg
