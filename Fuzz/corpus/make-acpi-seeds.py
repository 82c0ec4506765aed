#!/usr/bin/env python3
"""Writes the seed inputs of the acpi-walk fuzz target into Fuzz/corpus/acpi/.

The input format is described in Fuzz/ACPIWalk/main.swift and Fuzz/README.md:
a flags byte, then patch records (op, offset LE (2 bytes, 3 for regions 6
and 7), length, data) applied to a valid 4 MiB guest RAM image.
Run it again after changing the format; the seeds are small and checked in.
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "acpi")

# QEMU 7.2's VMGENID SSDT (copy of Tests/VMGenIDTests/Fixtures.swift), VGIA 0x1ffff000.
QEMU_SSDT = bytes([
    0x53, 0x53, 0x44, 0x54, 0xca, 0x00, 0x00, 0x00, 0x01, 0x33, 0x42, 0x4f, 0x43, 0x48, 0x53, 0x20,
    0x56, 0x4d, 0x47, 0x45, 0x4e, 0x49, 0x44, 0x00, 0x01, 0x00, 0x00, 0x00, 0x42, 0x58, 0x50, 0x43,
    0x01, 0x00, 0x00, 0x00, 0x08, 0x56, 0x47, 0x49, 0x41, 0x0c, 0x00, 0xf0, 0xff, 0x1f, 0x10, 0x41,
    0x08, 0x5c, 0x5f, 0x53, 0x42, 0x5f, 0x5b, 0x82, 0x48, 0x07, 0x56, 0x47, 0x45, 0x4e, 0x08, 0x5f,
    0x48, 0x49, 0x44, 0x0d, 0x51, 0x45, 0x4d, 0x55, 0x56, 0x47, 0x49, 0x44, 0x00, 0x08, 0x5f, 0x43,
    0x49, 0x44, 0x0d, 0x56, 0x4d, 0x5f, 0x47, 0x65, 0x6e, 0x5f, 0x43, 0x6f, 0x75, 0x6e, 0x74, 0x65,
    0x72, 0x00, 0x08, 0x5f, 0x44, 0x44, 0x4e, 0x0d, 0x56, 0x4d, 0x5f, 0x47, 0x65, 0x6e, 0x5f, 0x43,
    0x6f, 0x75, 0x6e, 0x74, 0x65, 0x72, 0x00, 0x14, 0x17, 0x5f, 0x53, 0x54, 0x41, 0x00, 0x70, 0x0a,
    0x0f, 0x60, 0xa0, 0x0a, 0x93, 0x56, 0x47, 0x49, 0x41, 0x00, 0x70, 0x00, 0x60, 0xa4, 0x60, 0x14,
    0x20, 0x41, 0x44, 0x44, 0x52, 0x00, 0x70, 0x12, 0x02, 0x02, 0x60, 0x70, 0x72, 0x56, 0x47, 0x49,
    0x41, 0x0a, 0x28, 0x00, 0x88, 0x60, 0x00, 0x00, 0x70, 0x00, 0x88, 0x60, 0x01, 0x00, 0xa4, 0x60,
    0x14, 0x19, 0x5c, 0x2e, 0x5f, 0x47, 0x50, 0x45, 0x5f, 0x45, 0x30, 0x35, 0x00, 0x86, 0x5c, 0x2e,
    0x5f, 0x53, 0x42, 0x5f, 0x56, 0x47, 0x45, 0x4e, 0x0a, 0x80,
])

# Flags (byte 0).
FIX, REV0, RAW, LAYOUT_MODE, RSDP_E0000 = 0x01, 0x02, 0x80, 0xc0, 0x10
LAYOUT_Q35, LAYOUT_HOLE, LAYOUT_HIGH, LAYOUT_NO_BIOS_AREA = 0 << 2, 1 << 2, 2 << 2, 3 << 2
# Regions (op & 7).
RSDP, RSDT, XSDT, APIC, SSDT, BDA, ANYWHERE, STRUCTURE = range(8)


def patch(region, offset, data):
    assert len(data) <= 255
    width = 3 if region >= 6 else 2
    return bytes([region]) + offset.to_bytes(width, "little") + bytes([len(data)]) + data


def with_checksum(table, index):
    table = bytearray(table)
    table[index] = 0
    table[index] = (-sum(table)) & 0xff
    return bytes(table)


def ssdt(vgia):
    return with_checksum(QEMU_SSDT[:42] + struct.pack("<I", vgia) + QEMU_SSDT[46:], 9)


def rsdp_rev2(rsdt=0x100000, xsdt=0x100100):
    rsdp = b"RSD PTR " + b"\0" + b"BOCHS " + bytes([2]) + struct.pack("<I", rsdt)
    rsdp = with_checksum(rsdp, 8)
    rsdp += struct.pack("<I", 36) + struct.pack("<Q", xsdt) + b"\0\0\0\0"
    return with_checksum(rsdp, 32)


def raw_ssdt_with_root_prefix():
    table = bytearray(QEMU_SSDT)
    table[36:37] = b"\x08\x5c"  # Name(\VGIA, ...)
    table[4:8] = struct.pack("<I", len(table))
    return with_checksum(table, 9)


def raw_ssdt_two_vgia():
    table = bytearray(QEMU_SSDT) + b"\x08VGIA\x0c\x00\x00\x10\x00"
    table[4:8] = struct.pack("<I", len(table))
    return with_checksum(table, 9)


SEEDS = {
    # The image as built: RSDP rev 2 -> XSDT -> APIC, VMGENID SSDT -> 0x3ff028.
    "valid-xsdt": bytes([0]),
    "valid-rsdt-rev0": bytes([REV0]),
    "valid-rsdp-at-e0000": bytes([RSDP_E0000 | FIX]),
    # VGIA moved to 0x200000, checksums fixed.
    "vgia-moved": bytes([FIX]) + patch(SSDT, 42, struct.pack("<I", 0x200000)),
    # VGIA in the hole of layout 1: must be refused.
    "vgia-in-hole": bytes([FIX | LAYOUT_HOLE]) + patch(SSDT, 42, struct.pack("<I", 0x2ff000)),
    # Layout 2: the XSDT's second entry names an SSDT in RAM above 4 GiB.
    "ssdt-above-4g": bytes([FIX | LAYOUT_HIGH])
        + patch(STRUCTURE, 0x300000, ssdt(0x2ff000))
        + patch(XSDT, 44, struct.pack("<Q", 0x1_0000_0000)),
    # Layout 3: no BIOS area; the RSDP sits in the EBDA at 0x9fc00.
    "rsdp-in-ebda": bytes([FIX | LAYOUT_NO_BIOS_AREA])
        + patch(BDA, 0x0e, struct.pack("<H", 0x9fc0))
        + patch(STRUCTURE, 0x9fc00, rsdp_rev2()),
    # RSDT grown to three entries, the third one pointing at the APIC table.
    "rsdt-three-entries": bytes([FIX | REV0])
        + patch(RSDT, 4, struct.pack("<I", 48))
        + patch(RSDT, 44, struct.pack("<I", 0x100200)),
    # Raw mode: one SSDT straight into VMGenIDTable(ssdt:).
    "raw-qemu-ssdt": bytes([RAW]) + QEMU_SSDT,
    "raw-ssdt-root-prefix": bytes([RAW]) + raw_ssdt_with_root_prefix(),
    "raw-ssdt-two-vgia": bytes([RAW]) + raw_ssdt_two_vgia(),
    "raw-guid-text": bytes([RAW]) + b"324e6eaf-d1d1-4bf6-bf41-b9bb6c91fb87",
    # Layout mode: a layout, then (address, count) lookups.
    "layout-q35-512m": bytes([LAYOUT_MODE, 0]) + struct.pack("<Q", 512 << 20)
        + struct.pack("<QI", 0x1ffff028, 16),
    "layout-q35-4g": bytes([LAYOUT_MODE, 0]) + struct.pack("<Q", 4 << 30)
        + struct.pack("<QI", 0x7ffffff8, 16) + struct.pack("<QI", 0x1_0000_0000, 16),
    "layout-two-regions": bytes([LAYOUT_MODE, 1 | (1 << 1)])
        + struct.pack("<QQQ", 0, 0xa0000, 0) + struct.pack("<QQQ", 0x100000, 0x3ff00000, 0x100000)
        + struct.pack("<QI", 0x9fff8, 16),
}

os.makedirs(OUT, exist_ok=True)
for name, data in SEEDS.items():
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)
print(f"wrote {len(SEEDS)} seeds to {OUT}")
