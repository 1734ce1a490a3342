# tests/hostile: a hostile guest PID 1 for tests/integration/35-hostile-guest.sh.
# Test-only: never installed. Its initrd is the real one (same kernel
# modules, same order file) with one more newc archive appended that holds
# /init = hostile_init; the kernel unpacks archives in order, so this /init
# replaces vminitd. The test appends one more archive with /hostile.mode.
HOSTILE_OUT := $(BUILD)/hostile

$(HOSTILE_OUT)/hostile_init: $(call objs,tests/hostile/hostile_init.c guest/pid1.c guest/gfile.c \
    $(LIB_SRCS_CHAN) $(GUEST_PROTO_SRCS) $(LIB_SRCS_BASE))
	@mkdir -p $(@D)
	$(CC) -static-pie -Wl,-z,relro,-z,now $(LDFLAGS) $^ -o $@ -lprotobuf-c

$(HOSTILE_OUT)/hostile-initrd: $(HOSTILE_OUT)/hostile_init $(GUEST_OUT)/qemubox-initrd
	@rm -rf $@.stage && mkdir -p $@.stage
	strip -s -o $@.stage/init $<
	chmod 0755 $@.stage/init
	(cat $(GUEST_OUT)/qemubox-initrd && cd $@.stage && echo init | \
	    cpio -o -H newc --reproducible -R 0:0 --quiet) >$@.tmp
	rm -rf $@.stage
	mv $@.tmp $@

ALL_EXTRA += $(HOSTILE_OUT)/hostile-initrd
