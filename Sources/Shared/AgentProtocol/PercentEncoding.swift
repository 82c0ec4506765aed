/// Percent-encoding for agent message words: every byte outside printable
/// ASCII, and space, `%`, `=`, becomes `%XX`. The empty string encodes as a
/// lone `%`, so that every word has at least one character.
public enum PercentEncoding {
    public static func encode(_ text: some StringProtocol) -> String {
        if text.isEmpty { return "%" }
        var out = ""
        for byte in text.utf8 {
            if byte > 0x20, byte < 0x7f, byte != UInt8(ascii: "%"), byte != UInt8(ascii: "=") {
                out.unicodeScalars.append(UnicodeScalar(byte))
            } else {
                out += "%" + hex(byte >> 4) + hex(byte & 0x0f)
            }
        }
        return out
    }

    public static func decode(_ word: some StringProtocol) throws(AgentProtocolError) -> String {
        if word == "%" { return "" }
        var bytes: [UInt8] = []
        var iterator = Array(word.utf8).makeIterator()
        while let byte = iterator.next() {
            guard byte == UInt8(ascii: "%") else { bytes.append(byte); continue }
            guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else {
                throw .badEncoding(String(word))
            }
            bytes.append(high << 4 | low)
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func hex(_ nibble: UInt8) -> String {
        String(UnicodeScalar(nibble < 10 ? nibble + 0x30 : nibble - 10 + 0x41))
    }

    private static func hexValue(_ ascii: UInt8) -> UInt8? {
        switch ascii {
        case 0x30...0x39: return ascii - 0x30
        case 0x41...0x46: return ascii - 0x41 + 10
        case 0x61...0x66: return ascii - 0x61 + 10
        default: return nil
        }
    }
}
