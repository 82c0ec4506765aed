// libFuzzer target for the QMP message parser (Sources/Host/QMP).
//
// Built by Fuzz/run together with the Foundation-only files of the QMP
// module (JSONValue, QMPError, QMPEvent, QMPMessage) into one module; the
// other files of Sources/Host/QMP import NIO and are not needed. LineSplitter
// (LineFrameDecoder.swift) works on NIOCore's ByteBuffer and is not fuzzed here.
//
// The input is one line as it would come out of the LineSplitter.
//
// Invariants (a violation traps, so libFuzzer reports a crash):
//   - QMPMessage.parse never traps and returns or throws a QMPError (typed
//     throws), and only .malformedMessage, whose text excerpt stays short;
//   - the result does not depend on the collection type or its indices
//     (an Array and an ArraySlice that does not start at 0 parse the same);
//   - for a successfully parsed message, JSONValue's description (compact
//     JSON) parses back to an equal value whenever it is finite;
//   - a greeting, reply or event has the shape the parser promises.
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzQMPMessage(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: size > 0 ? data : nil, count: size)
    let line = Array(bytes)
    let first = parse(bytes)
    // Same bytes at indices 1..<n+1: generic code must not assume index 0.
    let shifted = ([UInt8(ascii: " ")] + line).dropFirst()
    let second = parse(shifted)
    guard first == second else {
        fail("parse of an ArraySlice differs from parse of a buffer: \(first) vs \(second)")
    }
    switch first {
    case .failure(let error):
        guard case .malformedMessage(let text, let reason) = error else {
            fail("parse threw \(error), not .malformedMessage")
        }
        // excerpt: at most 200 characters, plus "… (N bytes)".
        guard text.count <= 200 + 40, !reason.isEmpty else {
            fail("malformedMessage excerpt of \(text.count) characters, reason '\(reason)'")
        }
        _ = error.description
    case .success(let message):
        check(message)
    }
    return 0
}

func parse(_ line: some Collection<UInt8>) -> Result<QMPMessage, QMPError> {
    do {
        return .success(try QMPMessage.parse(line))
    } catch {
        // Typed throws: `error` is a QMPError.
        return .failure(error)
    }
}

func check(_ message: QMPMessage) {
    switch message {
    case .greeting(let greeting):
        _ = greeting.version.description
        guard message.id == nil else { fail("a greeting has an id") }
    case .success(let id, let value):
        checkRoundTrip(value)
        if let id { checkRoundTrip(id) }
    case .failure(let id, let errorClass, let description):
        if let id { checkRoundTrip(id) }
        _ = (errorClass, description)
    case .event(let event):
        checkRoundTrip(event.data)
        _ = event.timestamp?.date
        guard message.id == nil else { fail("an event has an id") }
    }
}

/// The compact JSON a value prints as must parse back to the same value.
/// Skipped for values JSON cannot express (non-finite doubles, which the
/// parser never produces anyway) and for doubles, whose round trip through
/// JSONEncoder's shortest representation is allowed to turn an integral
/// value into `.int` (documented in JSONValue).
func checkRoundTrip(_ value: JSONValue) {
    guard !containsDouble(value) else { return }
    let text = value.description
    let back: JSONValue
    do {
        back = try JSONValue(parsing: Array(text.utf8))
    } catch {
        fail("JSONValue \(text) does not parse back: \(error)")
    }
    guard back == value else { fail("JSONValue \(text) parses back as \(back)") }
}

func containsDouble(_ value: JSONValue) -> Bool {
    switch value {
    case .double: return true
    case .array(let elements): return elements.contains(where: containsDouble)
    case .object(let members): return members.values.contains(where: containsDouble)
    default: return false
    }
}

func fail(_ message: String, file: StaticString = #file, line: UInt = #line) -> Never {
    fatalError("FUZZ INVARIANT VIOLATED: " + message, file: file, line: line)
}
