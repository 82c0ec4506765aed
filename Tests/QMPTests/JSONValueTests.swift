import Foundation
import Testing
import QMP

@Suite("JSONValue")
struct JSONValueTests {
    @Test func accessors() throws {
        let value = try JSONValue(parsing: Array(#"{"s": "x", "i": 3, "d": 2.5, "b": true, "n": null, "a": [1, "two"], "o": {"k": 1.0}}"#.utf8))
        #expect(value["s"]?.stringValue == "x")
        #expect(value["i"]?.intValue == 3)
        #expect(value["i"]?.doubleValue == 3)
        #expect(value["d"]?.doubleValue == 2.5)
        #expect(value["d"]?.intValue == nil)
        #expect(value["b"]?.boolValue == true)
        #expect(value["n"]?.isNull == true)
        #expect(value["a"]?[1]?.stringValue == "two")
        #expect(value["a"]?[2] == nil)
        #expect(value["a"]?.arrayValue?.count == 2)
        #expect(value["o"]?["k"] == .int(1))  // integral numbers are .int
        #expect(value["o"]?.objectValue?.keys.sorted() == ["k"])
        #expect(value["missing"] == nil)
        #expect(value["s"]?["k"] == nil)
        #expect(value[0] == nil)
        #expect(value["s"]?.intValue == nil)
    }

    @Test func literals() {
        let value: JSONValue = ["a": [1, 2.5, "x", true, nil], "b": ["c": false]]
        #expect(value == .object(["a": .array([.int(1), .double(2.5), .string("x"), .bool(true), .null]),
                                  "b": .object(["c": .bool(false)])]))
    }

    @Test func encodesCompactSortedJSON() throws {
        let value: JSONValue = ["execute": "human-monitor-command", "arguments": ["command-line": "info status"], "id": 1]
        #expect(value.description
            == #"{"arguments":{"command-line":"info status"},"execute":"human-monitor-command","id":1}"#)
        #expect(JSONValue.string("a/b").description == #""a/b""#)
        #expect(JSONValue.double(.nan).description == "<non-finite number>")
        #expect(throws: EncodingError.self) { try JSONValue.double(.infinity).jsonData() }
    }

    @Test func roundTripsThroughCodable() throws {
        let value: JSONValue = ["n": nil, "list": [1, -2, 3.25, "s\"q\n", ["nested": []]], "t": true,
                                "big": .int(.max), "small": .int(.min)]
        let decoded = try JSONDecoder().decode(JSONValue.self, from: try JSONEncoder().encode(value))
        #expect(decoded == value)
    }

    @Test func convertsToAndFromCodableTypes() throws {
        struct Arguments: Codable, Equatable {
            var id: String
            var guid: String
        }
        let arguments = Arguments(id: "vgid0", guid: "324e6eaf-d1d1-4bf6-bf41-b9bb6c91fb87")
        let value = try JSONValue(encoding: arguments)
        #expect(value["guid"] == "324e6eaf-d1d1-4bf6-bf41-b9bb6c91fb87")
        #expect(try value.decode(as: Arguments.self) == arguments)
        #expect(throws: DecodingError.self) { try JSONValue.string("x").decode(as: Arguments.self) }
    }

    @Test func rejectsInvalidJSON() {
        for text in ["", "nope", "[1,", "NaN", "{\"a\":1}x"] {
            #expect(throws: (any Error).self) { try JSONValue(parsing: Array(text.utf8)) }
        }
        // Any top-level value is fine here; QMPMessage insists on an object.
        #expect((try? JSONValue(parsing: Array("42".utf8))) == .int(42))
    }
}
