import Foundation
import GenIDLab

/// A real genidd on the lab's libvirtd with a run root of its own under
/// /dev/shm (ledger, control socket, logs), for tests that talk to it
/// directly. `tearDown()` stops genidd and removes the run root.
struct GeniddFixture {
    let runRoot: String
    let environment: LibvirtEnvironment
    let genidd: LabGenidd
    var ledgerPath: String { genidd.ledgerPath }

    static func start(controlGroup: String? = nil, readOnlyGroup: String? = nil, metricsAddress: String? = nil,
                      fileLimit: Int? = nil) async throws -> GeniddFixture {
        let runRoot = "/dev/shm/genid-lab-test-\(UUID().uuidString.prefix(8))"
        // Traversable by anyone whatever the umask: only the control
        // socket's own mode may keep other users out.
        try FileManager.default.createDirectory(atPath: runRoot, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o755])
        do {
            let environment = try await LibvirtEnvironment.ensure()
            let genidd = try LabGenidd(ledgerPath: "\(runRoot)/ledger.sqlite", libvirtURI: environment.uri,
                                       runRoot: runRoot, controlGroup: controlGroup, readOnlyGroup: readOnlyGroup,
                                       metricsAddress: metricsAddress, fileLimit: fileLimit)
            do {
                try await genidd.start()
            } catch {
                genidd.tearDown()
                throw error
            }
            return GeniddFixture(runRoot: runRoot, environment: environment, genidd: genidd)
        } catch {
            try? FileManager.default.removeItem(atPath: runRoot)
            throw error
        }
    }

    func tearDown() {
        genidd.tearDown()
        try? FileManager.default.removeItem(atPath: runRoot)
    }
}
