import Foundation

/// An asynchronous QMP event: `{"event": "STOP", "data": {...}, "timestamp": {...}}`.
public struct QMPEvent: Sendable, Equatable {
    /// The event name, e.g. `"STOP"`, `"RESUME"`, `"SHUTDOWN"`.
    public var name: String
    /// The event's `data` member; an empty object when QEMU sent none.
    public var data: JSONValue
    /// When QEMU emitted the event (host wall clock); `nil` if it sent no timestamp.
    public var timestamp: Timestamp?

    public init(name: String, data: JSONValue = .object([:]), timestamp: Timestamp? = nil) {
        self.name = name
        self.data = data
        self.timestamp = timestamp
    }

    /// QEMU's `{"seconds": S, "microseconds": U}`, since the Unix epoch.
    public struct Timestamp: Sendable, Equatable, Hashable {
        public var seconds: Int64
        public var microseconds: Int64

        public init(seconds: Int64, microseconds: Int64) {
            self.seconds = seconds
            self.microseconds = microseconds
        }

        public var date: Date {
            Date(timeIntervalSince1970: Double(seconds) + Double(microseconds) / 1_000_000)
        }
    }
}

/// A position in the client's event history; see ``QMPClient/eventMark()``
/// and ``QMPClient/waitForEvent(named:after:timeout:where:)``.
public struct QMPEventMark: Sendable, Hashable, Comparable {
    /// Number of events received before the mark was taken.
    let sequence: UInt64

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.sequence < rhs.sequence }
}
