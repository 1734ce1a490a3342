# lib/log.c and lib/error.c: the logging and error conventions.
$(BUILD)/test/test_log: $(call asan_objs,tests/unit/test_log.c $(LIB_SRCS_BASE))
	@mkdir -p $(@D)
	$(CC) $(SAN_FLAGS) $^ -o $@ $(LIBS_CMOCKA)
UNIT_TESTS += $(BUILD)/test/test_log
