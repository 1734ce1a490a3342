LIB_SRCS_LANDLOCK := lib/landlock.c

$(BUILD)/test/test_landlock: $(call asan_objs,tests/unit/test_landlock.c $(LIB_SRCS_LANDLOCK) $(LIB_SRCS_BASE))
	@mkdir -p $(@D)
	$(CC) $(SAN_FLAGS) $^ -o $@ $(LIBS_CMOCKA)
UNIT_TESTS += $(BUILD)/test/test_landlock
