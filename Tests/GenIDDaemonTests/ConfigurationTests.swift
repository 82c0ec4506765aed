import Foundation
import Testing
@testable import GenIDDaemon

@Suite struct ConfigurationTests {
    @Test func emptyObjectMeansDefaults() throws {
        let configuration = try DaemonConfiguration.parse(Data("{}".utf8), source: "test")
        #expect(configuration == DaemonConfiguration())
        #expect(configuration.metricsAddress == "127.0.0.1:9471")
    }

    @Test func keysOverrideDefaults() throws {
        let json = #"{"controlGroup":"genid","metricsAddress":null,"readinessTimeoutSeconds":5,"logLevel":"debug"}"#
        let configuration = try DaemonConfiguration.parse(Data(json.utf8), source: "test")
        #expect(configuration.controlGroup == "genid")
        #expect(configuration.metricsAddress == nil)
        #expect(configuration.readinessTimeoutSeconds == 5)
    }

    @Test(arguments: [
        (#"{"controlSocke":"/x"}"#, "unknown key 'controlSocke'"),
        (#"[1]"#, "one JSON object"),
        (#"{"#, "not valid JSON"),
        (#"{"readinessTimeoutSeconds":0}"#, "more than 0 and at most 3600"),
        (#"{"readinessTimeoutSeconds":1e300}"#, "more than 0 and at most 3600"),
        (#"{"reconnectSeconds":1e300}"#, "reconnectSeconds must be more than 0"),
        (#"{"metricsAddress":"nowhere"}"#, "not HOST:PORT"),
        (#"{"logLevel":"loud"}"#, "logLevel 'loud'"),
        (#"{"ledger":7}"#, "ledger"),
    ])
    func badConfigurationIsRefusedWithTheReason(json: String, expected: String) {
        #expect {
            try DaemonConfiguration.parse(Data(json.utf8), source: "genidd.json")
        } throws: { error in
            "\(error)".contains(expected) && "\(error)".contains("genidd.json")
        }
    }

    /// The example `make install` puts next to genidd.json: every key, each
    /// with its default but the control group (Documentation/genidd.md).
    @Test func installedExampleHoldsEveryKeyWithItsDefault() throws {
        let path = HookScriptTests.repositoryRoot.appendingPathComponent("qemu/genidd.json.example").path
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        let keys = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any]).keys
        #expect(Set(keys) == Set(DaemonConfiguration.CodingKeys.allCases.map(\.rawValue)))
        var expected = DaemonConfiguration()
        expected.controlGroup = "genid"
        #expect(try DaemonConfiguration.parse(data, source: path) == expected)
    }

    @Test func missingDefaultFileMeansDefaultsButMissingNamedFileIsAnError() throws {
        #expect(throws: DaemonError.self) { try DaemonConfiguration.load(path: "/nonexistent/genidd.json") }
    }
}

@Suite struct LogfmtTests {
    @Test func valuesAreQuotedOnlyWhenNeeded() {
        #expect(LogfmtLogHandler.quoted("web-1") == "web-1")
        #expect(LogfmtLogHandler.quoted("two words") == "\"two words\"")
        #expect(LogfmtLogHandler.quoted("say \"hi\"\n") == "\"say \\\"hi\\\"\\n\"")
        #expect(LogfmtLogHandler.quoted("") == "\"\"")
        // A guest's text cannot forge a line or drive the terminal that shows the log.
        #expect(LogfmtLogHandler.quoted("x\nts=0 level=info msg=forged\r\u{1B}[1A")
                == "\"x\\nts=0 level=info msg=forged\\r\\u{1B}[1A\"")
    }
}

@Suite struct SnapshotXMLTests {
    @Test func readsTheGenIDOfTheEmbeddedDomain() {
        let xml = """
            <domainsnapshot><name>s1</name><state>shutoff</state>
            <domain type='qemu'><name>d</name><genid>AB0F1C2D-1111-4222-8333-444455556666</genid></domain>
            </domainsnapshot>
            """
        #expect(DomainObservation.genIDValue(inSnapshotXML: xml)?.description == "ab0f1c2d-1111-4222-8333-444455556666")
        #expect(DomainObservation.genIDValue(inSnapshotXML: "<domainsnapshot><domain/></domainsnapshot>") == nil)
        #expect(DomainObservation.genIDValue(inSnapshotXML: "garbage") == nil)
    }
}
