# genid: `make demo` and `make test` do all set-up on a fresh Debian 12 host
# (as root: qemu/setup-host installs QEMU, busybox-static, libvirt,
# PostgreSQL and the guest kernels; `make test` also makes the newer stack,
# qemu/newer-stack: a Debian 13 root with QEMU and libvirt from
# trixie-backports and a 7.x guest kernel, cached outside the clone).
# `make deb` builds the Debian packages genid, sysgenid-tools and
# sysgenid-dkms into build/deb/ (Documentation/packages.md).

SWIFT        ?= swift
GUEST_BUILD  := .build-guest
LAB          := .build/debug/genid-lab
KERNELS      := 6.1 6.12

export GENID_GUEST_BIN_DIR := $(CURDIR)/$(GUEST_BUILD)/release
export GENID_LAB_BUILD_DIR := $(CURDIR)/build/lab

.PHONY: all setup newer-stack build guest kernel images newer-images debian-image demo check test fuzz clean install deb

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
# the libvirtd and virtlogd the lab started, and only those (qemu/lab-daemons),
# and removes the host package if this run installed it. The libvirt
# scenarios run the genidd that package installed (GENID_GENIDD).
# The packages build in DEB_TEST_WORK (outside the clone, so incremental
# across clones) with debug host binaries (noopt: minutes faster).
DEB_TEST_WORK := /var/cache/genid/deb-build
test: export DEB_WORK := $(DEB_TEST_WORK)
test: export DEB_BUILD_OPTIONS := noopt
test: images newer-images debian-image
	Tests/check-manifest
	@before="$$(qemu/lab-daemons running)"; \
	genid_before="$$(dpkg-query -W -f='$${Status}' genid 2>/dev/null || true)"; \
	trap 'qemu/lab-daemons stop-unless "$$before"; \
	      [ "$$genid_before" = "install ok installed" ] || apt-get purge -y -q genid > /dev/null 2>&1 || true' EXIT; \
	set -e -x; \
	GENID_PACKAGES_SKIP_BUILD=1 GENID_PACKAGES_KEEP_INSTALLED=1 Tests/packages; \
	GENID_GENIDD=/usr/bin/genidd SWIFT=$(SWIFT) Tests/with-postgres Tests/run; \
	Tests/newer-stack; \
	Tests/doc-examples; \
	qemu/check-leftovers; \
	.build/debug/genidctl history --check --ledger $(GENID_LAB_BUILD_DIR)/ledger.sqlite > /dev/null; \
	FUZZ_SECONDS=10 FUZZ_CORPUS_DIR=$(FUZZ_CACHE) $(MAKE) fuzz

# libFuzzer on every parser of hostile input (Fuzz/README.md), FUZZ_SECONDS (20) each.
# make test gives each 10 s on a corpus kept outside the clone, which grows
# from run to run (a fresh machine starts from Fuzz/corpus).
FUZZ_CACHE ?= /var/cache/genid/fuzz-corpus
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

# Debian packages -> build/deb/ (Documentation/packages.md). dpkg-buildpackage
# runs in a staged copy under DEB_WORK (the tracked and untracked files git
# does not ignore, plus the guest binaries), so that the working tree and its
# parent get none of its by-products; rsync keeps files whose content did not
# change as they are (--checksum: a fresh clone's new mtimes do not count),
# and the swift scratch path stays, so a second build is incremental.
# DEB_BUILD_OPTIONS=noopt: debug host binaries, faster. `make test` puts
# DEB_WORK outside the clone (DEB_TEST_WORK), so that a fresh clone's build
# is incremental too.
DEB_WORK ?= build/deb-build
deb: guest
	rm -rf build/deb $(DEB_WORK)/*.deb $(DEB_WORK)/*.changes $(DEB_WORK)/*.buildinfo
	mkdir -p build/deb $(DEB_WORK)/genid
	rsync -a --checksum --delete --exclude=/.git --include=/Package.resolved --filter=':- .gitignore' \
		./ $(DEB_WORK)/genid/
	mkdir -p $(DEB_WORK)/genid/$(GUEST_BUILD)/release
	cp -p $(GUEST_BUILD)/release/sysgenidd $(GUEST_BUILD)/release/sysgenidctl \
		$(DEB_WORK)/genid/$(GUEST_BUILD)/release/
	cd $(DEB_WORK)/genid && SWIFT=$(SWIFT) GENID_SWIFT_SCRATCH=$(abspath $(DEB_WORK))/scratch \
		dpkg-buildpackage -b -us -uc
	mv $(DEB_WORK)/*.deb build/deb/
	@ls -l build/deb/

# The lab's Debian guest (Documentation/lab.md): Debian 12 with systemd, the
# guest packages installed from build/deb. As root: the base root is cached in
# /var/cache/genid/debian-guest, the image in build/lab/debian.
debian-image: deb
	qemu/debian-guest base
	qemu/debian-guest image
