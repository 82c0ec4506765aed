import GuestMemoryFixtures
import Testing
@testable import VMGenID

@Suite struct VMGenIDTableTests {
    @Test func findsThePageInARealQEMUTable() throws {
        let table = try VMGenIDTable(ssdt: qemuVMGenIDSSDT)
        #expect(table.pageAddress == 0x1fff_f000)
        #expect(table.valueAddress == 0x1fff_f028)
    }

    @Test func headerFieldsOfTheRealTable() throws {
        let header = try ACPITableHeader(parsing: qemuVMGenIDSSDT)
        #expect(header.signature == "SSDT")
        #expect(header.oemID == "BOCHS")
        #expect(header.oemTableID == "VMGENID")
        #expect(Int(header.length) == qemuVMGenIDSSDT.count)
    }

    @Test func picksTheVMGenIDTableAmongOthers() throws {
        var other = qemuVMGenIDSSDT
        replaceOEMTableID(in: &other, with: "OTHERTBL")
        let table = try VMGenIDTable(anyOf: [[1, 2, 3], other, qemuVMGenIDSSDT])
        #expect(table.pageAddress == 0x1fff_f000)
    }

    @Test func noVMGenIDTableAmongOthers() {
        var other = qemuVMGenIDSSDT
        replaceOEMTableID(in: &other, with: "OTHERTBL")
        #expect(throws: VMGenIDError.noVMGenIDTable(searched: 2)) { try VMGenIDTable(anyOf: [other, []]) }
    }

    @Test func rejectsTruncatedTables() {
        for length in [0, 10, 35] {
            #expect(throws: VMGenIDError.truncated(what: "table header", needed: 36, available: length)) {
                try VMGenIDTable(ssdt: Array(qemuVMGenIDSSDT.prefix(length)))
            }
        }
        let short = Array(qemuVMGenIDSSDT.prefix(100))
        #expect(throws: VMGenIDError.badLength(signature: "SSDT", claimed: 202, available: 100)) {
            try VMGenIDTable(ssdt: short)
        }
    }

    @Test func rejectsALengthSmallerThanTheHeader() {
        var table = qemuVMGenIDSSDT
        table[4] = 10; table[5] = 0
        #expect(throws: VMGenIDError.badLength(signature: "SSDT", claimed: 10, available: 202)) {
            try VMGenIDTable(ssdt: table)
        }
    }

    @Test func rejectsABadChecksum() {
        var table = qemuVMGenIDSSDT
        table[100] &+= 1
        #expect(throws: VMGenIDError.badChecksum(signature: "SSDT")) { try VMGenIDTable(ssdt: table) }
    }

    @Test func rejectsAnUnpatchedVGIA() {
        var table = qemuVMGenIDSSDT
        // VGIA's dword sits right after "08 'VGIA' 0c" at offset 36.
        table.replaceSubrange(42..<46, with: [0, 0, 0, 0])
        fixChecksum(&table)
        #expect(throws: VMGenIDError.vgiaNotPatched) { try VMGenIDTable(ssdt: table) }
    }

    @Test func rejectsATableWithoutVGIA() {
        var table = qemuVMGenIDSSDT
        table[37] = UInt8(ascii: "X")  // NameOp now names "XGIA"
        fixChecksum(&table)
        #expect(throws: VMGenIDError.vgiaNotFound) { try VMGenIDTable(ssdt: table) }
    }

    @Test func rejectsTwoVGIADeclarations() {
        var table = qemuVMGenIDSSDT
        table.append(contentsOf: [0x08, 0x56, 0x47, 0x49, 0x41, 0x0c, 0x00, 0x10, 0x00, 0x00])
        table[4] = UInt8(table.count)
        fixChecksum(&table)
        #expect(throws: VMGenIDError.vgiaAmbiguous(count: 2)) { try VMGenIDTable(ssdt: table) }
    }

    @Test func rejectsAnotherOEMTableID() {
        var table = qemuVMGenIDSSDT
        replaceOEMTableID(in: &table, with: "NOTGENID")
        #expect(throws: VMGenIDError.notVMGenIDTable(oemTableID: "NOTGENID")) { try VMGenIDTable(ssdt: table) }
    }

    @Test func vgiaAtTheVeryEndOfTheAMLIsRead() throws {
        let aml: [UInt8] = [0x10, 0x08, 0x5c, 0x56, 0x47, 0x49, 0x41, 0x0c, 0x00, 0x20, 0x00, 0x00]
        #expect(try VMGenIDTable.vgiaValue(inAML: aml[...]) == 0x2000)
        // One byte short of a full dword is not a declaration.
        #expect(throws: VMGenIDError.vgiaNotFound) { try VMGenIDTable.vgiaValue(inAML: aml.dropLast()) }
    }

    /// Random corruption of a real table never crashes the parser and never
    /// yields an address unless the table still checks out.
    @Test func randomCorruptionNeverCrashes() {
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            var table = qemuVMGenIDSSDT
            for _ in 0..<Int.random(in: 1...8, using: &rng) {
                table[Int.random(in: 0..<table.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            }
            if Bool.random(using: &rng) { table = Array(table.prefix(Int.random(in: 0...table.count, using: &rng))) }
            if let parsed = try? VMGenIDTable(ssdt: table) {
                #expect(table.prefix(Int(readLE32(table, at: 4))).reduce(UInt8(0), &+) == 0)
                #expect(parsed.pageAddress != 0)
            }
        }
    }

    private func replaceOEMTableID(in table: inout [UInt8], with id: String) {
        table.replaceSubrange(16..<24, with: Array(id.utf8).prefix(8))
        fixChecksum(&table)
    }

    private func fixChecksum(_ table: inout [UInt8]) {
        table[9] = 0
        table[9] = 0 &- table.reduce(UInt8(0), &+)
    }
}
