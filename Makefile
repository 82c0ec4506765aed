# genid: `make demo` and `make test` do all set-up on a fresh Debian 12 host
# (as root: qemu/setup-host installs QEMU, busybox-static, libvirt,
# PostgreSQL and the guest kernels; `make test` also makes the newer stack,
# qemu/newer-stack: a Debian 13 root with QEMU and libvirt from
# trixie-backports and a 7.x guest kernel, cached outside the clone).

SWIFT        ?= swift
GUEST_BUILD  := .build-guest
LAB          := .build/debug/genid-lab
KERNELS      := 6.1 6.12

export GENID_GUEST_BIN_DIR := $(CURDIR)/$(GUEST_BUILD)/release
export GENID_LAB_BUILD_DIR := $(CURDIR)/build/lab

.PHONY: all setup newer-stack build guest kernel images newer-images demo check test fuzz clean install

all: build guest

setup:
	@qemu/setup-host

newer-stack: setup
	qemu/newer-stack build

build: setup
	$(SWIFT) build

# Guest executables: statically linked Swift runtime, no Foundation, and
# stripped at link time (-s: about 7.5 MB instead of 12 MB each; every
# megabyte is in every guest's initramfs).
GUEST_FLAGS := -c release --static-swift-stdlib -Xlinker -s --scratch-path $(GUEST_BUILD)
guest: setup
	$(SWIFT) build $(GUEST_FLAGS) --product sysgenidd
	$(SWIFT) build $(GUEST_FLAGS) --product sysgenidctl

# The sysgenid kernel module for every installed guest kernel -> build/kernel/<release>/.
kernel: setup
	Kernel/sysgenid/build-all

# The newer stack's 7.x kernel and its module, built in its root with the
# toolchain its headers name (gcc-14, Debian 13's C library).
newer-images: build guest newer-stack
	qemu/newer-stack run Kernel/sysgenid/build-all
	@for kernel in $$(qemu/newer-stack series); do $(LAB) image --kernel $$kernel || exit 1; done

images: build guest kernel
	@for kernel in $(KERNELS); do $(LAB) image --kernel $$kernel || exit 1; done

demo: images
	$(LAB) demo --kernel 6.1

# The unit tier: pure logic, fakes only where the real thing cannot be made
# to fail; no guest boots. Needs only the Swift toolchain and libvirt-dev.
check:
	Tests/check-manifest
	SWIFT=$(SWIFT) Tests/run --skip LabIntegrationTests

# One shell for the whole run, so that on every path (a failure too) it stops
# the libvirtd and virtlogd the lab started, and only those (qemu/lab-daemons).
test: images newer-images
	Tests/check-manifest
	@before="$$(qemu/lab-daemons running)"; trap 'qemu/lab-daemons stop-unless "$$before"' EXIT; \
	set -e -x; \
	SWIFT=$(SWIFT) Tests/with-postgres Tests/run; \
	Tests/newer-stack; \
	Tests/doc-examples; \
	qemu/check-leftovers; \
	.build/debug/genidctl history --check --ledger $(GENID_LAB_BUILD_DIR)/ledger.sqlite > /dev/null; \
	$(MAKE) fuzz

# libFuzzer on the ACPI walk and the QMP parser, FUZZ_SECONDS (20) each.
fuzz:
	Fuzz/run

clean:
	-$(LAB) clean --images
	rm -rf .build $(GUEST_BUILD) build

# genidd, genidctl, the systemd unit, the libvirt hook and an example
# configuration (Documentation/genidd.md). DESTDIR for staging; an existing
# /etc/genid/genidd.json is never touched (only the .example is written).
# INSTALL_SCRATCH: swift build's scratch path for the release build.
PREFIX          ?= /usr/local
SYSCONFDIR      ?= /etc
INSTALL_SCRATCH ?= .build

install:
	$(SWIFT) build -c release --scratch-path $(INSTALL_SCRATCH) --product genidd
	$(SWIFT) build -c release --scratch-path $(INSTALL_SCRATCH) --product genidctl
	mkdir -p $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(SYSCONFDIR)/systemd/system \
		$(DESTDIR)$(SYSCONFDIR)/libvirt/hooks/qemu.d $(DESTDIR)$(SYSCONFDIR)/genid
	bin="$$($(SWIFT) build -c release --scratch-path $(INSTALL_SCRATCH) --show-bin-path)" && \
		install -m 0755 "$$bin/genidd" "$$bin/genidctl" $(DESTDIR)$(PREFIX)/bin/
	sed 's|/usr/local/bin/genidd|$(PREFIX)/bin/genidd|' qemu/genidd.service \
		> $(DESTDIR)$(SYSCONFDIR)/systemd/system/genidd.service
	chmod 0644 $(DESTDIR)$(SYSCONFDIR)/systemd/system/genidd.service
	sed 's|/usr/local/bin/genidctl|$(PREFIX)/bin/genidctl|' qemu/hooks/genid \
		> $(DESTDIR)$(SYSCONFDIR)/libvirt/hooks/qemu.d/genid
	chmod 0755 $(DESTDIR)$(SYSCONFDIR)/libvirt/hooks/qemu.d/genid
	install -m 0644 qemu/genidd.json.example $(DESTDIR)$(SYSCONFDIR)/genid/genidd.json.example
	@echo "Installed. Next: systemctl daemon-reload && systemctl enable --now genidd"
	@echo "libvirt looks for hooks when it starts or reloads: systemctl reload libvirtd (or virtqemud)"
