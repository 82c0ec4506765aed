/// A 16-byte VM Generation ID.
///
/// Stored in RFC-4122 byte order (the order QEMU and libvirt print). Guest
/// memory holds the same value in Microsoft GUID order: the first three
/// fields byte-swapped. `init(guestBytes:)` and `guestBytes` convert.
public struct GenerationID: Hashable, Sendable, CustomStringConvertible {
    /// The 16 bytes in RFC-4122 (big-endian field) order.
    public let rfcBytes: [UInt8]

    public init?(rfcBytes: [UInt8]) {
        guard rfcBytes.count == 16 else { return nil }
        self.rfcBytes = rfcBytes
    }

    /// Builds a value from the 16 bytes as they sit in guest memory.
    public init?(guestBytes: some Collection<UInt8>) {
        let bytes = Array(guestBytes)
        guard bytes.count == 16 else { return nil }
        self.rfcBytes = GenerationID.swapGUIDFields(bytes)
    }

    /// Parses `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` (either case).
    public init?(_ text: String) {
        let utf8 = Array(text.utf8)
        guard utf8.count == 36 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(16)
        var index = 0
        while index < utf8.count {
            if [8, 13, 18, 23].contains(index) {
                guard utf8[index] == UInt8(ascii: "-") else { return nil }
                index += 1
                continue
            }
            guard index + 1 < utf8.count,
                  let high = hexValue(utf8[index]), let low = hexValue(utf8[index + 1])
            else { return nil }
            bytes.append(high << 4 | low)
            index += 2
        }
        guard bytes.count == 16 else { return nil }
        self.rfcBytes = bytes
    }

    /// The value in guest memory order (Microsoft GUID layout).
    public var guestBytes: [UInt8] { GenerationID.swapGUIDFields(rfcBytes) }

    /// Lower-case RFC-4122 text, as QEMU and libvirt print it.
    public var description: String {
        var text = ""
        text.reserveCapacity(36)
        for (index, byte) in rfcBytes.enumerated() {
            if [4, 6, 8, 10].contains(index) { text.append("-") }
            text.append(hexDigits[Int(byte >> 4)])
            text.append(hexDigits[Int(byte & 0x0f)])
        }
        return text
    }

    /// Reverses the byte order of the first three fields (4, 2 and 2 bytes).
    /// The mapping is its own inverse.
    static func swapGUIDFields(_ bytes: [UInt8]) -> [UInt8] {
        var out = bytes
        out[0] = bytes[3]; out[1] = bytes[2]; out[2] = bytes[1]; out[3] = bytes[0]
        out[4] = bytes[5]; out[5] = bytes[4]
        out[6] = bytes[7]; out[7] = bytes[6]
        return out
    }
}

private let hexDigits: [Character] = Array("0123456789abcdef")

private func hexValue(_ ascii: UInt8) -> UInt8? {
    switch ascii {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): return ascii - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): return ascii - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): return ascii - UInt8(ascii: "A") + 10
    default: return nil
    }
}

extension GenerationID {
    /// A fresh random (version 4, RFC-4122 variant) value from the system
    /// CSPRNG (getrandom(2) on Linux), like QEMU's `guid=auto`.
    public static func random() -> GenerationID {
        var generator = SystemRandomNumberGenerator()
        var bytes = (0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) }
        bytes[6] = (bytes[6] & 0x0f) | 0x40
        bytes[8] = (bytes[8] & 0x3f) | 0x80
        return GenerationID(rfcBytes: bytes)!
    }
}

/// Encoded as its RFC 4122 text, the form people, libvirt and QMP use.
extension GenerationID: Codable {
    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let value = GenerationID(text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath,
                                                    debugDescription: "'\(text)' is not a VM Generation ID"))
        }
        self = value
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
