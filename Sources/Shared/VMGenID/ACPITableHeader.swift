/// The 36-byte header every ACPI system description table starts with.
public struct ACPITableHeader: Equatable, Sendable {
    public static let size = 36

    public let signature: String
    /// Length of the whole table, header included, as the table claims it.
    public let length: UInt32
    public let revision: UInt8
    public let oemID: String
    public let oemTableID: String

    /// Parses the header at the start of `bytes`. Fails on a short buffer;
    /// the claimed length is returned as is and checked by the caller.
    public init(parsing bytes: some Collection<UInt8>) throws(VMGenIDError) {
        let header = Array(bytes.prefix(ACPITableHeader.size))
        guard header.count == ACPITableHeader.size else {
            throw .truncated(what: "table header", needed: ACPITableHeader.size, available: header.count)
        }
        signature = asciiField(header[0..<4])
        length = readLE32(header, at: 4)
        revision = header[8]
        oemID = asciiField(header[10..<16])
        oemTableID = asciiField(header[16..<24])
    }

    /// A whole table as the guest holds it: its header, and exactly the
    /// bytes its claimed length covers, checked to be there and to sum to 0.
    public static func wholeTable(_ bytes: [UInt8]) throws(VMGenIDError) -> (header: ACPITableHeader, table: [UInt8]) {
        let header = try ACPITableHeader(parsing: bytes)
        guard header.length >= UInt32(ACPITableHeader.size), Int(header.length) <= bytes.count else {
            throw .badLength(signature: header.signature, claimed: header.length, available: bytes.count)
        }
        let table = Array(bytes.prefix(Int(header.length)))
        guard table.reduce(UInt8(0), &+) == 0 else { throw .badChecksum(signature: header.signature) }
        return (header, table)
    }
}

/// Text of a fixed-width ACPI field: trailing spaces and NULs dropped,
/// anything outside printable ASCII shown as "?".
func asciiField(_ bytes: ArraySlice<UInt8>) -> String {
    var scalars = bytes.map { (0x20...0x7e).contains($0) ? Character(UnicodeScalar($0)) : ($0 == 0 ? " " : "?") }
    while scalars.last == " " { scalars.removeLast() }
    return String(scalars)
}

func readLE32(_ bytes: [UInt8], at offset: Int) -> UInt32 {
    UInt32(bytes[offset]) | UInt32(bytes[offset + 1]) << 8
        | UInt32(bytes[offset + 2]) << 16 | UInt32(bytes[offset + 3]) << 24
}
