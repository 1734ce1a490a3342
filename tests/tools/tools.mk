# tests/tools/: programs the tests run inside images (static, any libc).
# qb-manifest: a tree's entries (type, owner, mode, mtime, size, hash,
# xattrs, links) for comparing the host's view of an image with the VM's.
$(BUILD)/test/qb-manifest: tests/tools/qb_manifest.c
	@mkdir -p $(@D)
	$(CC) $(QB_CFLAGS) -static $< -o $@ -lmd
ALL_EXTRA += $(BUILD)/test/qb-manifest

# The real-image corpus (scripts/mk-test-images): Debian 12 from debootstrap
# and the multi-layer fidelity image, built once and kept in the build tree.
# `make check` builds it before the suites; tests/integration/32-real-images.sh
# uses it (and fails, under CI=true, when it is missing).
TEST_IMAGES := $(BUILD)/test-images
# debian-rootfs.tar (debootstrap) stays unless `make clean`.
$(TEST_IMAGES)/.stamp: scripts/mk-test-images scripts/mk-oci-layers scripts/mk-oci-image $(BUILD)/test/qb-manifest
	@mkdir -p $(@D)
	rm -f $(TEST_IMAGES)/debian.tar $(TEST_IMAGES)/fidelity.tar
	QB_MANIFEST=$(BUILD)/test/qb-manifest scripts/mk-test-images $(TEST_IMAGES)
	touch $@
test-images: $(TEST_IMAGES)/.stamp
.PHONY: test-images
