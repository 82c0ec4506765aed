import Foundation
import GenIDLab
import Testing

extension LabIntegration {
    /// `genid-lab bench fleet` against libvirt's test driver: genidd beside a
    /// bare libvirt client holding the same domains, with the embedded
    /// ledger and with the fleet ledger (the PostgreSQL server `make test`
    /// starts). Figures are the benchmark's to report; this checks it measures.
    @Suite struct FleetBenchmarkTests {
        @Test func itMeasuresGeniddAgainstABareLibvirtClient() async throws {
            let result = try await LabProcess.runBenchmark(["fleet", "--domains", "10,60", "--passes", "2"],
                                                           as: FleetBenchmark.Result.self)
            expectMeasured(result, sizes: [10, 60])
        }

        @Test(.enabled(if: ProcessInfo.processInfo.environment["GENID_TEST_POSTGRES_DIR"] != nil,
                       "no PostgreSQL server (make test starts one)"))
        func itMeasuresWithTheFleetLedger() async throws {
            let server = try #require(ProcessInfo.processInfo.environment["GENID_TEST_POSTGRES_DIR"])
            let database = "genid_bench_" + UUID().uuidString.prefix(8).lowercased()
            try psql(server, "CREATE DATABASE \(database)")
            defer { _ = try? psql(server, "DROP DATABASE IF EXISTS \(database) WITH (FORCE)") }
            let url = "postgres://genid@localhost/\(database)?host=\(server)"
            let result = try await LabProcess.runBenchmark(["fleet", "--domains", "60", "--passes", "2", "--ledger", url],
                                                           as: FleetBenchmark.Result.self)
            #expect(result.ledger == url)
            expectMeasured(result, sizes: [60])
            // Every domain's value is in the fleet ledger, named with its host.
            let count = try psql(server, "SELECT count(*) FROM genid.generation WHERE host <> ''", database: database)
            #expect(Int(count.trimmingCharacters(in: .whitespacesAndNewlines)) == 60)
        }

        private func expectMeasured(_ result: FleetBenchmark.Result, sizes: [Int]) {
            #expect(result.sizes.map(\.domains) == sizes)
            for size in result.sizes {
                #expect(size.libvirtClientPssAnonKB > 0 && size.geniddPssAnonKB > size.libvirtClientPssAnonKB)
                #expect(size.passSeconds.count == 2 && size.passMedianSeconds > 0 && size.firstPassSeconds > 0)
            }
        }

        @discardableResult
        private func psql(_ server: String, _ sql: String, database: String = "genid") throws -> String {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/psql")
            process.arguments = ["-h", server, "-U", "genid", "-d", database, "-Atqc", sql]
            let output = Pipe()
            process.standardOutput = output
            try process.run()
            let data = output.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            #expect(process.terminationStatus == 0, "psql \(sql)")
            return String(decoding: data, as: UTF8.self)
        }
    }
}
