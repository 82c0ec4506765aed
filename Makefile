# genid: `make demo` and `make test` do all set-up on a fresh Debian 12 host
# (as root: qemu/setup-host installs QEMU, busybox-static, libvirt and the
# guest kernels).

SWIFT        ?= swift
GUEST_BUILD  := .build-guest
LAB          := .build/debug/genid-lab
KERNELS      := 6.1 6.12

export GENID_GUEST_BIN_DIR := $(CURDIR)/$(GUEST_BUILD)/release
export GENID_LAB_BUILD_DIR := $(CURDIR)/build/lab

.PHONY: all setup build guest kernel images demo test fuzz clean

all: build guest

setup:
	@qemu/setup-host

build: setup
	$(SWIFT) build

# Guest executables: statically linked Swift runtime, no Foundation.
guest: setup
	$(SWIFT) build -c release --static-swift-stdlib --product sysgenidd --scratch-path $(GUEST_BUILD)
	$(SWIFT) build -c release --static-swift-stdlib --product sysgenidctl --scratch-path $(GUEST_BUILD)

# The sysgenid kernel module for every installed guest kernel -> build/kernel/<release>/.
kernel: setup
	Kernel/sysgenid/build-all

images: build guest kernel
	@for kernel in $(KERNELS); do $(LAB) image --kernel $$kernel || exit 1; done

demo: images
	$(LAB) demo --kernel 6.1

test: images
	$(SWIFT) test
	@qemu/check-leftovers
	.build/debug/genidctl history --check --ledger $(GENID_LAB_BUILD_DIR)/ledger.sqlite > /dev/null
	$(MAKE) fuzz

# libFuzzer on the ACPI walk and the QMP parser, FUZZ_SECONDS (20) each.
fuzz:
	Fuzz/run

clean:
	-$(LAB) clean --images
	rm -rf .build $(GUEST_BUILD) build
