import Foundation
import GenIDControl
import Logging

/// swift-log handler writing one logfmt line per message to standard error:
///
///     ts=2026-11-21T10:00:00.123Z level=info msg="rotated" domain=web1 value=...
///
/// journald keeps the lines as they are; `grep domain=web1` and log
/// shippers that parse logfmt both work.
public struct LogfmtLogHandler: LogHandler {
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    private let label: String
    private static let lock = NSLock()

    public init(label: String, level: Logger.Level) {
        self.label = label
        self.logLevel = level
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var fields = [("ts", Self.timestamp()), ("level", event.level.rawValue), ("msg", "\(event.message)")]
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        for key in merged.keys.sorted() { fields.append((key, "\(merged[key]!)")) }
        let line = fields.map { "\($0.0)=\(Self.quoted($0.1))" }.joined(separator: " ") + "\n"
        Self.lock.withLock { FileHandle.standardError.write(Data(line.utf8)) }
    }

    static func quoted(_ value: String) -> String {
        let plain = !value.isEmpty && value.allSatisfy { $0.isLetter || $0.isNumber || "-_./:@+,".contains($0) }
        if plain { return value }
        // One line per message, whatever a guest or peer put in a value.
        let escaped = PrintableText.escaped(value).replacingOccurrences(of: "\"", with: "\\\"")
        return "\"\(escaped)\""
    }

    private static func timestamp() -> String {
        Date().formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true)
            .timeZone(separator: .omitted))
    }
}

/// A log level from its name in the configuration.
func parseLogLevel(_ name: String) -> Logger.Level? {
    Logger.Level(rawValue: name.lowercased())
}
