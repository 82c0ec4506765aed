import Foundation
import Testing
@testable import QMP

/// Found by Fuzz/QMPMessage: decoding cost grows with the cube of the
/// nesting depth, so deep nesting is refused before decoding.
@Suite struct JSONDepthTests {
    @Test func deepNestingIsRefusedQuickly() {
        let line = "{\"return\": " + String(repeating: "[", count: 400) + String(repeating: "]", count: 400) + "}"
        let started = ContinuousClock.now
        #expect(throws: QMPError.self) { try QMPMessage.parse(Array(line.utf8)) }
        #expect(ContinuousClock.now - started < .milliseconds(200))
    }

    @Test func nestingUpToTheLimitStillParses() throws {
        let depth = JSONValue.maximumDepth - 1
        let line = "{\"return\": " + String(repeating: "[", count: depth) + String(repeating: "]", count: depth) + "}"
        guard case .success = try QMPMessage.parse(Array(line.utf8)) else {
            Issue.record("expected a success reply")
            return
        }
    }

    @Test func bracketsInsideStringsDoNotCount() {
        let text = "\"" + String(repeating: "[{", count: 500) + "\\\"]\""
        #expect(JSONValue.nestingDepth(of: Data(text.utf8)) == 0)
        #expect(JSONValue.nestingDepth(of: Data("[[{}],{\"a\":[1]}]".utf8)) == 3)
    }
}
