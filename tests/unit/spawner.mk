# spawner/: which layer paths get a privileged build.
$(BUILD)/test/test_spawner: $(call asan_objs,tests/unit/test_spawner.c $(SPAWNER_VALIDATE_SRCS))
	@mkdir -p $(@D)
	$(CC) $(SAN_FLAGS) $^ -o $@ $(LIBS_CMOCKA)
UNIT_TESTS += $(BUILD)/test/test_spawner
