# check/: qemubox-check, the host doctor: a shell script (it composes host
# tools and reads the configuration with jq; the configuration's rules stay
# in lib/config.c, through the shim's --check-config next to it).
$(BUILD)/bin/qemubox-check: check/qemubox-check
	@mkdir -p $(@D)
	install -m 0755 $< $@
BINS += qemubox-check
