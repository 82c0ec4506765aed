import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
@testable import GenIDLab
import Testing

/// The JUnit XML of a check, parsed back with a real XML parser (libxml2
/// through FoundationXML) and held to what the JUnit schema (Ant's format)
/// requires of each element.
struct JUnitReportTests {
    static let probes = [GuestProbe(name: "urandom", command: "head -c 16 /dev/urandom"),
                         GuestProbe(name: "uuid", command: "cat /proc/sys/kernel/random/uuid")]

    static func report() -> LabReport {
        var report = LabReport(scenario: "check", backend: "qemu")
        report.guestKernel = "6.1.0-57-amd64"
        report.accelerator = "tcg"
        let source = ProbeOutput(instance: "source", output: "s", elapsedMs: 10)
        report.probes = [
            ProbeVerdict(probe: probes[0], mode: "genid", source: source,
                         outputs: [ProbeOutput(instance: "clone-1", output: "a\u{1}<&>\"", elapsedMs: 20),
                                   ProbeOutput(instance: "clone-2", output: "b", elapsedMs: 30)]),
            ProbeVerdict(probe: probes[1], mode: "genid", source: source,
                         outputs: [ProbeOutput(instance: "clone-1", output: "u"), ProbeOutput(instance: "clone-2", output: "u")]),
        ]
        for verdict in report.probes! { report.check(verdict.probe, verdict.passed, verdict.summary) }
        report.conclude()
        return report
    }

    /// The schema's required attributes, by element.
    static let required = [
        "testsuite": ["name", "package", "id", "timestamp", "hostname", "tests", "failures", "errors", "time"],
        "testcase": ["name", "classname", "time"],
        "failure": ["type"], "error": ["type"], "property": ["name", "value"],
    ]

    private func parse(_ xml: String) throws -> XMLElement {
        try #require(try XMLDocument(data: Data(xml.utf8), options: []).rootElement())
    }

    private func checkSchema(_ root: XMLElement) throws {
        #expect(root.name == "testsuites")
        let suites = root.elements(forName: "testsuite")
        #expect(suites.count == 1)
        for suite in suites {
            // testsuite: properties first, testcases, then system-out and system-err.
            let children = suite.children?.compactMap { ($0 as? XMLElement)?.name } ?? []
            #expect(children.first == "properties" && children.suffix(2) == ["system-out", "system-err"], "\(children)")
            #expect(children.dropFirst().dropLast(2).allSatisfy { $0 == "testcase" })
            for element in [suite] + (suite.elements(forName: "properties").first?.elements(forName: "property") ?? [])
                + suite.elements(forName: "testcase")
                + suite.elements(forName: "testcase").flatMap({ $0.elements(forName: "failure") + $0.elements(forName: "error") }) {
                for attribute in JUnitReportTests.required[element.name ?? ""] ?? [] {
                    #expect(element.attribute(forName: attribute)?.stringValue != nil, "\(element.name ?? "") lacks \(attribute)")
                }
            }
            let timestamp = try #require(suite.attribute(forName: "timestamp")?.stringValue)
            #expect(timestamp.wholeMatch(of: /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d/) != nil, "\(timestamp)")
            for number in ["tests", "failures", "errors"] {
                #expect(Int(suite.attribute(forName: number)?.stringValue ?? "") != nil)
            }
        }
    }

    @Test func aProbeThatCollidedIsAFailureNamingTheClones() throws {
        let xml = JUnitReport.xml(for: JUnitReportTests.report(), probes: JUnitReportTests.probes, mode: "genid", seconds: 12.5)
        let root = try parse(xml)
        try checkSchema(root)
        let suite = try #require(root.elements(forName: "testsuite").first)
        #expect(suite.attribute(forName: "tests")?.stringValue == "2")
        #expect(suite.attribute(forName: "failures")?.stringValue == "1")
        #expect(suite.attribute(forName: "errors")?.stringValue == "0")
        let cases = suite.elements(forName: "testcase")
        #expect(cases.map { $0.attribute(forName: "name")?.stringValue } == ["urandom [genid]", "uuid [genid]"])
        #expect(cases[0].elements(forName: "failure").isEmpty)
        #expect(cases[0].attribute(forName: "time")?.stringValue == "0.060")
        let failure = try #require(cases[1].elements(forName: "failure").first)
        #expect(failure.attribute(forName: "type")?.stringValue == "collision")
        #expect(failure.attribute(forName: "message")?.stringValue == "clone-1 and clone-2 printed the same output")
        #expect(failure.stringValue?.contains("clone-2: u") == true)
        // The passing probe's odd bytes never reach the XML raw.
        #expect(!xml.unicodeScalars.contains("\u{1}"))
    }

    @Test func aCheckThatStoppedMakesEveryProbeAnError() throws {
        var report = LabReport(scenario: "check", backend: "qemu")
        report.error = "the guest's QEMU guest agent did not answer within 10.0 s"
        report.check("check ran to completion", false, report.error!)
        report.conclude()
        let root = try parse(JUnitReport.xml(for: report, probes: JUnitReportTests.probes, mode: "without-genid", seconds: 1))
        try checkSchema(root)
        let suite = try #require(root.elements(forName: "testsuite").first)
        #expect(suite.attribute(forName: "errors")?.stringValue == "2")
        let errors = suite.elements(forName: "testcase").flatMap { $0.elements(forName: "error") }
        #expect(errors.count == 2)
        #expect(errors.allSatisfy { $0.attribute(forName: "message")?.stringValue == report.error })
    }
}
