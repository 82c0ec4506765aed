import GuestAgent
import Foundation

/// Where the lab keeps things and how it boots guests; one value shared by
/// every command and scenario.
public struct LabSettings: Sendable {
    /// Cached images and kept console logs.
    public var buildDirectory: String
    /// Where `make guest` puts the statically linked guest executables.
    public var guestBinaryDirectory: String
    public var runRoot: String
    public var kernel: String
    public var accelerator: MachineConfiguration.Accelerator
    public var agentTimeout: Duration

    public init(buildDirectory: String? = nil, guestBinaryDirectory: String? = nil, runRoot: String? = nil,
                kernel: String = "6.1", accelerator: MachineConfiguration.Accelerator = .tcg,
                agentTimeout: Duration = .seconds(90)) {
        let environment = ProcessInfo.processInfo.environment
        self.buildDirectory = buildDirectory ?? environment["GENID_LAB_BUILD_DIR"] ?? "build/lab"
        self.guestBinaryDirectory = guestBinaryDirectory ?? environment["GENID_GUEST_BIN_DIR"] ?? ".build-guest/release"
        self.runRoot = runRoot ?? RunDirectory.defaultRoot
        self.kernel = kernel
        self.accelerator = accelerator
        self.agentTimeout = agentTimeout
    }

    public var imageBuilder: GuestImageBuilder {
        GuestImageBuilder(buildDirectory: buildDirectory, guestBinaryDirectory: guestBinaryDirectory)
    }

    /// The lab's own ledger: every value any scenario gave any lab VM.
    public var ledgerPath: String { "\(buildDirectory)/ledger.sqlite" }

    /// Where a scenario keeps its guest's console log.
    public func consoleLogPath(scenario: String, release: String) -> String {
        "\(buildDirectory)/logs/\(scenario)-\(release).console.log"
    }
}
