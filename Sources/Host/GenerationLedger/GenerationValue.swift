/// Checks and normalizes the text form of a generation ID.
///
/// The ledger stays independent of the VMGenID module: callers convert the
/// 16 bytes to text, and the ledger only insists on one canonical spelling,
/// since a second spelling of the same value would defeat the UNIQUE constraint.
enum GenerationValue {
    /// The lower-cased value, or `LedgerError.invalidValue` unless `text` is
    /// 36 characters: hex digits with dashes at offsets 8, 13, 18 and 23.
    static func normalized(_ text: String) throws -> String {
        let bytes = Array(text.utf8)
        guard bytes.count == 36 else { throw LedgerError.invalidValue(text) }
        for (offset, byte) in bytes.enumerated() {
            let isDashOffset = offset == 8 || offset == 13 || offset == 18 || offset == 23
            let valid = isDashOffset
                ? byte == UInt8(ascii: "-")
                : (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
                    || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte)
                    || (UInt8(ascii: "A")...UInt8(ascii: "F")).contains(byte)
            guard valid else { throw LedgerError.invalidValue(text) }
        }
        return text.lowercased()
    }
}
