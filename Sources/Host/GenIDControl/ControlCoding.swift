import Foundation

/// The control protocol's JSON: one object per line, ISO-8601 dates, keys
/// in camelCase, sorted (stable output for scripts and tests).
public enum ControlCoding {
    public static func encode(_ value: some Encodable) throws -> Data {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(value)
    }

    public static func decode<T: Decodable>(_ type: T.Type, from data: Data) throws -> T {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return try decoder.decode(type, from: data)
    }

    /// The longest line either side accepts: a status of many domains fits,
    /// a runaway peer does not exhaust memory.
    public static let maximumLineLength = 4 << 20
}
