import Foundation
import NIOCore
import Testing
@testable import QMP

@Suite("QMPMessage.parse")
struct QMPMessageTests {
    private func parse(_ text: String) throws(QMPError) -> QMPMessage {
        try QMPMessage.parse(Array(text.utf8))
    }

    @Test func greeting() throws {
        let message = try parse(#"{"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}, "package": "Debian 1:7.2+dfsg-7+deb12u6"}, "capabilities": ["oob"]}}"#)
        #expect(message == .greeting(QMPGreeting(version: .init(major: 7, minor: 2, micro: 0),
                                                 package: "Debian 1:7.2+dfsg-7+deb12u6", capabilities: ["oob"])))
        guard case .greeting(let greeting) = message else { return }
        #expect(greeting.version.description == "7.2.0")
        #expect(greeting.version < .init(major: 7, minor: 10, micro: 0))
        #expect(greeting.version > .init(major: 6, minor: 2, micro: 9))
    }

    @Test func greetingWithoutPackageOrCapabilities() throws {
        let message = try parse(#"{"QMP": {"version": {"qemu": {"micro": 1, "minor": 0, "major": 9}}}}"#)
        #expect(message == .greeting(QMPGreeting(version: .init(major: 9, minor: 0, micro: 1))))
    }

    @Test func success() throws {
        #expect(try parse(#"{"return": {}, "id": 1}"#) == .success(id: 1, value: .object([:])))
        #expect(try parse(#"{"return": {"running": true, "status": "running"}, "id": 42}"#)
            == .success(id: 42, value: ["running": true, "status": "running"]))
        #expect(try parse(#"{"return": "VM status: running\r\n"}"#)
            == .success(id: nil, value: "VM status: running\r\n"))
        #expect(try parse(#"{"return": [{"name": "a"}, 2, 2.5, null], "id": "x"}"#)
            == .success(id: "x", value: [["name": "a"], 2, 2.5, nil]))
        #expect(try parse(#"{"return": {}, "id": 7}"#).id == 7)
    }

    @Test func error() throws {
        let message = try parse(#"{"id": 3, "error": {"class": "GenericError", "desc": "Parameter 'x' is missing"}}"#)
        #expect(message == .failure(id: 3, errorClass: "GenericError", description: "Parameter 'x' is missing"))
        #expect(message.id == 3)
    }

    @Test func event() throws {
        let message = try parse(#"{"timestamp": {"seconds": 1700000000, "microseconds": 5}, "event": "STOP"}"#)
        let expected = QMPEvent(name: "STOP", data: .object([:]),
                                timestamp: .init(seconds: 1_700_000_000, microseconds: 5))
        #expect(message == .event(expected))
        #expect(expected.timestamp?.date == Date(timeIntervalSince1970: 1_700_000_000.000005))

        let shutdown = try parse(#"{"event": "SHUTDOWN", "data": {"guest": true, "reason": "guest-shutdown"}, "timestamp": {"seconds": 1, "microseconds": 2}}"#)
        guard case .event(let event) = shutdown else {
            Issue.record("not an event")
            return
        }
        #expect(event.name == "SHUTDOWN")
        #expect(event.data["guest"]?.boolValue == true)
        #expect(event.data["reason"]?.stringValue == "guest-shutdown")
        #expect(shutdown.id == nil)
    }

    @Test func eventWithoutTimestamp() throws {
        #expect(try parse(#"{"event": "RESUME"}"#) == .event(QMPEvent(name: "RESUME")))
        #expect(try parse(#"{"event": "X", "timestamp": {"seconds": "1"}}"#) == .event(QMPEvent(name: "X")))
    }

    @Test func toleratesSurroundingWhitespace() throws {
        #expect(try parse(" {\"return\": {}, \"id\": 1}\r") == .success(id: 1, value: .object([:])))
    }

    /// A line that must be rejected, named so that long ones print short.
    struct Garbage: Sendable, CustomTestStringConvertible {
        var text: String
        var name: String?
        var testDescription: String { name ?? text }
    }

    static let garbage: [Garbage] = [
        "",
        "not json",
        "{",
        "{\"return\": {}",
        "[1, 2, 3]",
        "42",
        "\"a string\"",
        "null",
        "true",
        "{}",
        "{\"id\": 1}",
        "{\"QMP\": 1}",
        "{\"QMP\": {\"version\": {\"qemu\": {\"major\": \"7\", \"minor\": 2, \"micro\": 0}}}}",
        "{\"QMP\": {\"version\": {\"qemu\": {\"major\": 7.5, \"minor\": 2, \"micro\": 0}}}}",
        "{\"QMP\": {\"version\": {\"qemu\": {\"major\": 1e300, \"minor\": 2, \"micro\": 0}}}}",
        "{\"error\": \"oops\"}",
        "{\"error\": {\"class\": 1, \"desc\": \"x\"}}",
        "{\"error\": {\"desc\": \"no class\"}}",
        "{\"event\": 5}",
        "{\"event\": null}",
        "{\"return\": NaN}",
        "{\"return\": Infinity}",
        "{\"return\": 1e400}",
        "{\"return\": -1e400}",
        "{\"return\": {}} {\"return\": {}}",
        "{\"return\": \"\\ud800\"}",
        "{'return': {}}",
        Garbage(text: String(repeating: "[", count: 100_000), name: "100000 × ["),
        Garbage(text: String(repeating: "{\"a\":", count: 10_000) + "1" + String(repeating: "}", count: 10_000),
                name: "objects nested 10000 deep"),
        Garbage(text: String(repeating: "x", count: 5000), name: "5000 × x"),
    ]

    @Test(arguments: garbage)
    func garbageIsAMalformedMessage(_ garbage: Garbage) {
        #expect {
            try parse(garbage.text)
        } throws: { error in
            guard case QMPError.malformedMessage(let excerpt, let reason) = error else { return false }
            return excerpt.count <= 230 && !reason.isEmpty
        }
    }

    @Test func invalidUTF8IsAMalformedMessage() {
        let bytes: [UInt8] = [0x7B, 0x22, 0xFF, 0xFE, 0x22, 0x3A, 0x31, 0x7D]
        #expect(throws: QMPError.self) { try QMPMessage.parse(bytes) }
        #expect(throws: QMPError.self) { try QMPMessage.parse([0xC0, 0x80]) }
    }

    @Test func hugeNumbersThatParseAreKept() throws {
        #expect(try parse(#"{"return": 9223372036854775807}"#) == .success(id: nil, value: .int(.max)))
        #expect(try parse(#"{"return": 18446744073709551615}"#)
            == .success(id: nil, value: .double(18_446_744_073_709_551_616.0)))
        #expect(try parse(#"{"return": 1e308}"#) == .success(id: nil, value: .double(1e308)))
        #expect(try parse(#"{"return": -0.5}"#) == .success(id: nil, value: .double(-0.5)))
        // A huge id is no crash either; it just matches no command.
        #expect(try parse(#"{"return": {}, "id": 1e300}"#).id == .double(1e300))
    }

    @Test func malformedMessageTextIsTruncated() {
        let long = "nonsense " + String(repeating: "é", count: 10_000)
        let error = #expect(throws: QMPError.self) { try parse(long) }
        guard case .malformedMessage(let text, _)? = error else {
            Issue.record("unexpected \(String(describing: error))")
            return
        }
        #expect(text.hasPrefix("nonsense éé"))
        #expect(text.count < 250)
        #expect(text.contains("20009 bytes"))
    }
}

extension QMPMessageTests.Garbage: ExpressibleByStringLiteral {
    init(stringLiteral text: String) { self.init(text: text) }
}

@Suite("LineSplitter")
struct LineSplitterTests {
    private func lines(_ chunks: [String], maximumLength: Int = 1024) throws(QMPError) -> [String] {
        var splitter = LineSplitter(maximumLength: maximumLength)
        var buffer = ByteBuffer()
        var result: [String] = []
        for chunk in chunks {
            buffer.writeString(chunk)
            while let line = try splitter.nextLine(from: &buffer) {
                result.append(String(buffer: line))
            }
        }
        return result
    }

    @Test func splitsOnNewlineAndTrimsCarriageReturns() throws {
        #expect(try lines(["{\"a\":1}\r\n{\"b\":2}\n", "{\"c\"", ":3}\r", "\n"]) == ["{\"a\":1}", "{\"b\":2}", "{\"c\":3}"])
    }

    @Test func skipsBlankLinesAndKeepsPartialLines() throws {
        #expect(try lines(["\r\n\n  \r\n{}\r\n", "{\"partial\""]) == ["{}"])
    }

    @Test func byteAtATime() throws {
        let text = "{\"return\": {}, \"id\": 1}\r\n{\"event\": \"STOP\"}\r\n"
        #expect(try lines(text.map { String($0) }) == ["{\"return\": {}, \"id\": 1}", "{\"event\": \"STOP\"}"])
    }

    @Test func lineOfExactlyTheLimitIsAccepted() throws {
        let line = String(repeating: "a", count: 16)
        // The limit counts the bytes before the "\n", a "\r" included.
        #expect(try lines([line + "\n"], maximumLength: 16) == [line])
        #expect(throws: QMPError.self) { try lines([line + "\r\n"], maximumLength: 16) }
    }

    @Test func overlongLineIsAnError() {
        #expect(throws: QMPError.self) { try lines([String(repeating: "a", count: 17) + "\n"], maximumLength: 16) }
        // Also before the newline arrives.
        #expect(throws: QMPError.self) { try lines([String(repeating: "a", count: 10), String(repeating: "a", count: 10)], maximumLength: 16) }
    }
}

@Suite("QMPError")
struct QMPErrorTests {
    @Test func descriptionsSayWhatToDo() {
        #expect(QMPError.connectionFailed(path: "/run/q.sock", errno: ENOENT, description: "No such file or directory")
            .description.contains("-chardev socket,path=/run/q.sock,server=on"))
        #expect(QMPError.timeout(command: "query-status", seconds: 30).description
            == "QMP command 'query-status' got no reply within 30 s (QEMU may be hung or very busy)")
        #expect(QMPError.timeout(command: "x", seconds: 0.25).description.contains("0.25 s"))
        #expect(QMPError.commandFailed(command: "cont", errorClass: "GenericError", description: "boom").description
            == "QMP command 'cont' failed: GenericError: boom")
        #expect(QMPError.connectionClosed(command: "stop").description.contains("'stop'"))
        #expect(QMPError.noGreeting(path: "/x", seconds: 10).description.contains("one client"))
        #expect(QMPError.notQMPGreeting(received: "QEMU 7.2.0 monitor").description.contains("mode=control"))
    }
}
