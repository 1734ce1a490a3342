# lib/proc_spawn: fork+exec of a helper with one inherited fd (shim -> privnet, vmmon).
PROC_SPAWN_SRCS := lib/proc_spawn.c

$(BUILD)/test/test_proc_spawn: $(call asan_objs,tests/unit/test_proc_spawn.c $(PROC_SPAWN_SRCS))
	@mkdir -p $(@D)
	$(CC) $(SAN_FLAGS) $^ -o $@ $(LIBS_CMOCKA)
UNIT_TESTS += $(BUILD)/test/test_proc_spawn
