import Testing
@testable import VMGenID

@Suite struct GenerationIDTests {
    // QEMU and libvirt print the value as an RFC-4122 string; guest memory
    // holds it with the first three fields (4, 2 and 2 bytes) byte-swapped
    // (Microsoft GUID order), as QEMU's query-vm-generation-id and the
    // bytes in guest RAM show for this example.
    let text = "11223344-5566-7788-99aa-bbccddeeff00"
    let guest: [UInt8] = [0x44, 0x33, 0x22, 0x11, 0x66, 0x55, 0x88, 0x77,
                          0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x00]

    @Test func rfcTextToGuestBytes() throws {
        let id = try #require(GenerationID(text))
        #expect(id.guestBytes == guest)
        #expect(id.rfcBytes == [0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88,
                                0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x00])
    }

    @Test func guestBytesToRFCText() throws {
        let id = try #require(GenerationID(guestBytes: guest))
        #expect(id.description == text)
    }

    @Test func upperCaseParsesAndPrintsLowerCase() throws {
        let id = try #require(GenerationID("5A67D7C6-9AB9-449B-A758-BE75B197648D"))
        #expect(id.description == "5a67d7c6-9ab9-449b-a758-be75b197648d")
    }

    @Test(arguments: [
        "", "11223344556677889900aabbccddeeff", "11223344-5566-7788-99aa-bbccddeeff0",
        "11223344-5566-7788-99aa-bbccddeeff000", "1122334-45566-7788-99aa-bbccddeeff00",
        "11223344-5566-7788-99aa-bbccddeeff0g", "11223344_5566_7788_99aa_bbccddeeff00",
        "é1223344-5566-7788-99aa-bbccddeeff0",
    ])
    func rejectsMalformedText(_ text: String) {
        #expect(GenerationID(text) == nil)
    }

    @Test func rejectsWrongByteCounts() {
        #expect(GenerationID(guestBytes: [UInt8](repeating: 1, count: 15)) == nil)
        #expect(GenerationID(guestBytes: [UInt8](repeating: 1, count: 17)) == nil)
        #expect(GenerationID(rfcBytes: []) == nil)
    }

    @Test func conversionRoundTripsForManyValues() throws {
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<200 {
            let bytes = (0..<16).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let id = try #require(GenerationID(rfcBytes: bytes))
            #expect(GenerationID(guestBytes: id.guestBytes) == id)
            #expect(GenerationID(id.description) == id)
        }
    }
}

@Suite struct RandomGenerationIDTests {
    @Test func randomValuesAreVersion4AndDistinct() {
        let values = (0..<1000).map { _ in GenerationID.random() }
        #expect(Set(values).count == values.count)
        for value in values {
            #expect(value.rfcBytes[6] >> 4 == 4)
            #expect(value.rfcBytes[8] >> 6 == 0b10)
            #expect(value.description.count == 36)
        }
    }
}
