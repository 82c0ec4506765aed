/// What the host-rotation code needs from a QEMU monitor: QMP commands and
/// HMP command lines. `QMPClient` is the direct connection; genidd provides
/// one over libvirt's monitor passthrough for domains libvirt owns.
public protocol QEMUMonitor: Sendable {
    func execute(_ command: String, arguments: [String: JSONValue]?, timeout: Duration) async throws -> JSONValue
    func humanMonitorCommand(_ commandLine: String, timeout: Duration) async throws -> String
    func close() async
}

extension QEMUMonitor {
    @discardableResult
    public func execute(_ command: String, arguments: [String: JSONValue]? = nil) async throws -> JSONValue {
        try await execute(command, arguments: arguments, timeout: .seconds(30))
    }

    public func humanMonitorCommand(_ commandLine: String) async throws -> String {
        try await humanMonitorCommand(commandLine, timeout: .seconds(30))
    }
}

extension QMPClient: QEMUMonitor {}
