import Foundation
import GenIDLab
import Testing

/// The lab runs genidd with the capabilities its systemd unit keeps, no
/// more: the two lists must not drift apart.
@Suite struct GeniddCapabilitiesTests {
    @Test func theLabUsesTheUnitsBoundingSet() throws {
        let unit = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("qemu/genidd.service")
        let text = try String(contentsOf: unit, encoding: .utf8)
        let line = try #require(text.split(separator: "\n").first { $0.hasPrefix("CapabilityBoundingSet=") })
        let listed = line.dropFirst("CapabilityBoundingSet=".count).split(separator: " ").map(String.init)
        #expect(listed.sorted() == LabGenidd.capabilities.sorted())
    }
}
