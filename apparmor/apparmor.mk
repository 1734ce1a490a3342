# apparmor/: one profile per binary (shim, privnet, vmmon) and one for QEMU under
# vmmon. Rendered with the install paths into build/apparmor/, installed to
# $(SYSCONFDIR)/apparmor.d by `make install`; `make check` parses each one.
AA_PROFILES := qemubox-shim qemubox-privnet qemubox-vmmon qemubox-qemu \
	qemubox-spawner qemubox-layerbuild qemubox-fsd qemubox-tmpl
AA_RENDERED := $(addprefix $(BUILD)/apparmor/,$(AA_PROFILES))

$(BUILD)/apparmor/%: apparmor/%
	@mkdir -p $(@D)
	sed -e 's|@QB_BINDIR@|$(BINDIR)|g' -e 's|@QB_LIBEXECDIR@|$(LIBEXECDIR)|g' \
	    -e 's|@QB_PREFIX@|$(PREFIX)|g' $< > $@

ALL_EXTRA += $(AA_RENDERED)
define INSTALL_APPARMOR
	install -d $(DESTDIR)$(SYSCONFDIR)/apparmor.d
	install -m 0644 $(AA_RENDERED) $(DESTDIR)$(SYSCONFDIR)/apparmor.d/
endef
INSTALL_EXTRA += $(INSTALL_APPARMOR)

print-libexecdir:
	@echo $(LIBEXECDIR)
