# qemubox: one non-recursive Makefile; all outputs go to build/. Fragments,
# included below in a fixed order:
#   source lists    proto/ lib/ imsg/ seccomp/  (variables only, no rules)
#   production      one fragment per binary's directory; each binary has ONE
#                   source list naming every object it links (SHIM_SRCS,
#                   PRIVNET_SRCS, CLEANUP_SRCS, VMMON_SRCS, VMINITD_SRCS)
#   tests           tests/*/*.mk: every test, fuzzer, driver and test shim
#                   rule (they only read the lists above; order-free)
#
#   make            host binaries + guest kernel/initrd
#   make check      install deps, build, run every test (unit, fuzz smoke, integration)
#   make demo       install deps, build, run a container in a VM with a private containerd
#   make install    FHS install (PREFIX, DESTDIR honoured)
#   make deb        Debian package (scripts/mkdeb) in build/
#   make fuzz       libFuzzer targets (clang, ASan/UBSan) + a short smoke run
#   make bench      benchmarks against baselines measured in the same run

.DEFAULT_GOAL := all
SHELL := /bin/bash

BUILD      ?= build
PREFIX     ?= /usr/local
DESTDIR    ?=
BINDIR     ?= $(PREFIX)/bin
LIBEXECDIR ?= $(PREFIX)/libexec/qemubox
SHAREDIR   ?= /usr/share/qemubox
SYSCONFDIR ?= /etc

CC      ?= gcc
FUZZCC  ?= clang
PKG_CONFIG ?= pkg-config

VERSION := 0.1.0
GIT_REV := $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)

WARNINGS := -Wall -Wextra -Werror -Wshadow -Wpointer-arith -Wcast-qual \
	-Wstrict-prototypes -Wmissing-prototypes
CFLAGS   ?= -O2 -g
CPPFLAGS_QB := -D_GNU_SOURCE -I. -I$(BUILD)/gen \
	-DQB_VERSION='"$(VERSION)"' -DQB_GIT_REV='"$(GIT_REV)"' \
	-DQB_LIBEXECDIR='"$(LIBEXECDIR)"' -DQB_SHAREDIR='"$(SHAREDIR)"'
HARDEN   := -fstack-protector-strong -D_FORTIFY_SOURCE=2 -fPIE
QB_CFLAGS := -std=c11 $(WARNINGS) $(CPPFLAGS_QB) $(CFLAGS)
QB_LDFLAGS := -pie -Wl,-z,relro,-z,now $(LDFLAGS)
SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
FUZZ_FLAGS := -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer \
	-fno-sanitize-recover=undefined

# Libraries, by name, for modules to use in their link lines.
LIBS_JSONC    := $(shell $(PKG_CONFIG) --libs json-c 2>/dev/null)
LIBS_PROTOBUF := $(shell $(PKG_CONFIG) --libs libprotobuf-c 2>/dev/null)
LIBS_SECCOMP  := $(shell $(PKG_CONFIG) --libs libseccomp 2>/dev/null)
LIBS_CAPNG    := $(shell $(PKG_CONFIG) --libs libcap-ng 2>/dev/null)
LIBS_BSD      := $(shell $(PKG_CONFIG) --libs libbsd 2>/dev/null)
LIBS_NL       := $(shell $(PKG_CONFIG) --libs libnl-3.0 libnl-route-3.0 2>/dev/null)
CFLAGS_NL     := $(shell $(PKG_CONFIG) --cflags libnl-3.0 libnl-route-3.0 2>/dev/null)
LIBS_LMDB     := -llmdb
LIBS_CMOCKA   := -lcmocka

# The per-sandbox host processes (shim, privnet, vmmon, spawner, fsd) are
# static PIEs (ASLR kept), libc included: no ld.so, no shared library to
# find, map and relocate at each exec. On this host a page fault costs
# 13-20 us and each exec of a libc-shared binary took 2-5 ms more CPU than
# the same program static (docs/PERFORMANCE.md). A library fix then needs a
# rebuild. vmmon's getpwnam/getgrnam still work (glibc's static NSS reads
# /etc for "files"; other NSS modules need this glibc's libnss at run
# time: ld warns). QB_STATIC_LIBS=0 links them shared.
QB_STATIC_LIBS ?= 1
ifeq ($(QB_STATIC_LIBS),1)
QB_HELPER_LDFLAGS := -static-pie -Wl,-z,relro,-z,now $(LDFLAGS)
else
QB_HELPER_LDFLAGS := $(QB_LDFLAGS)
endif

# Object-file names for a list of sources, per build flavour:
#   obj  = normal (what gets installed), asan = tests, fuzz = libFuzzer targets.
objs      = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))
asan_objs = $(patsubst %.c,$(BUILD)/asan/%.o,$(1))
fuzz_objs = $(patsubst %.c,$(BUILD)/fuzz/%.o,$(1))

# Filled in by the fragments.
BINS         :=   # installed in $(BINDIR)
LIBEXEC_BINS :=   # installed in $(LIBEXECDIR)
UNIT_TESTS   :=   # cmocka binaries, run by tests/run with TAP output
FUZZERS      :=   # libFuzzer binaries
GEN_HEADERS  :=   # generated headers every object may include
EXTRA_CFLAGS :=   # per-module additions
ALL_EXTRA    :=   # more targets for `make all` (guest image, ...)
INSTALL_EXTRA :=  # more recipe lines for `make install`

include proto/proto.mk proto/guest.mk lib/lib.mk imsg/imsg.mk seccomp/seccomp.mk
include shim/shim.mk privnet/privnet.mk vmmon/vmmon.mk tmpl/tmpl.mk spawner/spawner.mk fsd/fsd.mk guest/guest.mk apparmor/apparmor.mk
include check/check.mk
include $(sort $(wildcard tests/*/*.mk))

$(BUILD)/obj/%.o: %.c $(GEN_HEADERS)
	@mkdir -p $(@D)
	$(CC) $(QB_CFLAGS) $(HARDEN) $(EXTRA_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/asan/%.o: %.c $(GEN_HEADERS)
	@mkdir -p $(@D)
	$(CC) $(QB_CFLAGS) $(EXTRA_CFLAGS) -DQB_TESTING=1 $(SAN_FLAGS) -MMD -MP -c $< -o $@

$(BUILD)/fuzz/%.o: %.c $(GEN_HEADERS)
	@mkdir -p $(@D)
	$(FUZZCC) $(QB_CFLAGS) $(EXTRA_CFLAGS) -DQB_TESTING=1 -DQB_FUZZING=1 $(FUZZ_FLAGS) -MMD -MP -c $< -o $@

-include $(shell find $(BUILD) -type f -name '*.d' 2>/dev/null)

.PHONY: all deps host unit-tests check check-unit check-integration demo bench \
	bench-volumes fuzz fuzz-build install clean format format-check deb

host: $(addprefix $(BUILD)/bin/,$(BINS)) $(addprefix $(BUILD)/libexec/,$(LIBEXEC_BINS))
all: host $(ALL_EXTRA)
unit-tests: $(UNIT_TESTS)

deps:
	@scripts/install-deps

check-unit: unit-tests
	@tests/run --unit $(UNIT_TESTS)

# check builds on every core unless make was given -j.
CHECK_JOBS = $(if $(filter -j%,$(MAKEFLAGS)),,-j$(shell nproc))
check: deps
	@$(MAKE) --no-print-directory $(CHECK_JOBS) all unit-tests fuzz-build test-images
	@tests/run --all

demo: deps
	@$(MAKE) --no-print-directory all
	@scripts/demo

bench: deps
	@$(MAKE) --no-print-directory all test-images
	@scripts/bench
	@scripts/bench-hotplug
	@scripts/bench-pods

# One phase of it alone: volume (virtio-fs) throughput against the host.
bench-volumes: deps
	@$(MAKE) --no-print-directory all
	@scripts/bench-volumes

fuzz-build: $(FUZZERS)
fuzz: fuzz-build
	@tests/run --fuzz $(FUZZERS)

# What install builds first; scripts/mkdeb narrows it to what is installed.
INSTALL_NEEDS ?= all
install: $(INSTALL_NEEDS)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBEXECDIR)
	$(if $(BINS),install -m 0755 $(addprefix $(BUILD)/bin/,$(BINS)) $(DESTDIR)$(BINDIR)/)
	$(if $(LIBEXEC_BINS),install -m 0755 $(addprefix $(BUILD)/libexec/,$(LIBEXEC_BINS)) $(DESTDIR)$(LIBEXECDIR)/)
	$(INSTALL_EXTRA)

# Its own build tree ($(BUILD)/deb-build) with the package's paths compiled in.
deb: deps
	@scripts/mkdeb $(BUILD)

clean:
	rm -rf $(BUILD)

FORMAT_SRCS = $(shell git ls-files '*.c' '*.h' 2>/dev/null)
format:
	clang-format -i $(FORMAT_SRCS)
# One line per file that `make format` would change; fails if there is any.
format-check:
	@bad=0; for f in $(FORMAT_SRCS); do \
		if ! clang-format --dry-run --Werror "$$f" >/dev/null 2>&1; then \
			echo "needs clang-format: $$f"; bad=$$((bad + 1)); \
		fi; \
	done; \
	if [ $$bad -gt 0 ]; then echo "format-check: $$bad file(s) differ (make format)"; exit 1; fi; \
	echo "format OK"

print-version:
	@echo $(VERSION)
print-unit-tests:
	@echo $(UNIT_TESTS)
print-fuzzers:
	@echo $(FUZZERS)
