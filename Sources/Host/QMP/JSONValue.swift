import Foundation

/// A JSON value as QMP sends and receives it.
///
/// Numbers are split in two cases: a number that is integral and fits in
/// `Int64` decodes as ``int(_:)`` (so `1`, `1.0` and `1e3` are all `.int`),
/// anything else as ``double(_:)``. Integers beyond `Int64` (QEMU's `uint64`
/// above 2^63) therefore arrive as `.double` and lose precision; that does not
/// happen for any value this project reads. ``doubleValue`` reads both cases.
///
/// Equality is structural and exact: `.int(1) != .double(1)`.
public enum JSONValue: Sendable, Equatable, Hashable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])
}

// MARK: - Accessors

extension JSONValue {
    /// The member `key` of an object; `nil` for a missing key or a non-object.
    public subscript(key: String) -> JSONValue? {
        if case .object(let members) = self { return members[key] }
        return nil
    }

    /// The element at `index` of an array; `nil` when out of range or not an array.
    public subscript(index: Int) -> JSONValue? {
        if case .array(let elements) = self, elements.indices.contains(index) { return elements[index] }
        return nil
    }

    public var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    public var boolValue: Bool? {
        if case .bool(let value) = self { return value }
        return nil
    }

    /// The value of an `.int`, or of a `.double` that is integral and in range.
    public var intValue: Int? {
        switch self {
        case .int(let value): return Int(exactly: value)
        case .double(let value): return Int(exactly: value)
        default: return nil
        }
    }

    /// The value of a `.double` or an `.int`.
    public var doubleValue: Double? {
        switch self {
        case .int(let value): return Double(value)
        case .double(let value): return value
        default: return nil
        }
    }

    public var arrayValue: [JSONValue]? {
        if case .array(let value) = self { return value }
        return nil
    }

    public var objectValue: [String: JSONValue]? {
        if case .object(let value) = self { return value }
        return nil
    }

    public var isNull: Bool { self == .null }
}

// MARK: - Codable

extension JSONValue: Codable {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int64.self) {
            self = .int(value)
        } else if let value = try? container.decode(Double.self) {
            self = .double(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .int(let value): try container.encode(value)
        case .double(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }
}

// MARK: - Conversion

extension JSONValue {
    /// Deepest nesting accepted. QMP replies nest a few levels; decoding
    /// cost grows with the cube of the depth (each level retries the scalar
    /// types), so a hostile line nested hundreds deep would stall the
    /// connection for seconds. Found by Fuzz/QMPMessage.
    public static let maximumDepth = 64

    /// Parses one JSON document (any top-level value).
    ///
    /// Throws Foundation's `DecodingError` for invalid JSON, invalid UTF-8,
    /// numbers out of `Double` range, or nesting deeper than `maximumDepth`.
    public init(parsing data: some DataProtocol) throws {
        let bytes = Data(data)
        guard JSONValue.nestingDepth(of: bytes) <= JSONValue.maximumDepth else {
            throw DecodingError.dataCorrupted(.init(
                codingPath: [], debugDescription: "JSON nested deeper than \(JSONValue.maximumDepth) levels"))
        }
        self = try JSONDecoder().decode(JSONValue.self, from: bytes)
    }

    /// The deepest `[`/`{` nesting outside strings (a cheap scan, no parsing).
    static func nestingDepth(of bytes: Data) -> Int {
        var depth = 0, deepest = 0
        var inString = false, escaped = false
        for byte in bytes {
            if inString {
                if escaped { escaped = false } else if byte == UInt8(ascii: "\\") { escaped = true }
                else if byte == UInt8(ascii: "\"") { inString = false }
                continue
            }
            switch byte {
            case UInt8(ascii: "\""): inString = true
            case UInt8(ascii: "["), UInt8(ascii: "{"):
                depth += 1
                deepest = max(deepest, depth)
            case UInt8(ascii: "]"), UInt8(ascii: "}"): depth -= 1
            default: break
            }
        }
        return deepest
    }

    /// Compact JSON text with sorted keys. Throws `EncodingError` for a
    /// non-finite `.double`, which JSON cannot express.
    public func jsonData() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(self)
    }

    /// Converts any `Encodable` value (a struct of command arguments, say).
    public init(encoding value: some Encodable) throws {
        let data = try JSONEncoder().encode(value)
        self = try JSONDecoder().decode(JSONValue.self, from: data)
    }

    /// Decodes this value into `type` (by a round trip through JSON text).
    public func decode<T: Decodable>(as type: T.Type = T.self) throws -> T {
        try JSONDecoder().decode(T.self, from: jsonData())
    }
}

extension JSONValue: CustomStringConvertible {
    /// Compact JSON text, or a placeholder for a value JSON cannot express.
    public var description: String {
        guard let data = try? jsonData() else { return "<non-finite number>" }
        return String(decoding: data, as: UTF8.self)
    }
}

// MARK: - Literals

extension JSONValue: ExpressibleByNilLiteral, ExpressibleByBooleanLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByFloatLiteral, ExpressibleByStringLiteral, ExpressibleByArrayLiteral,
    ExpressibleByDictionaryLiteral
{
    public init(nilLiteral: ()) { self = .null }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(integerLiteral value: Int64) { self = .int(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(stringLiteral value: String) { self = .string(value) }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }

    /// A later duplicate key wins.
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .object(Dictionary(elements, uniquingKeysWith: { _, last in last }))
    }
}
