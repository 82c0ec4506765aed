import Dispatch
import Foundation
import Libvirt
import QMP

/// The QEMU monitor of a domain libvirt owns, through libvirt's passthrough
/// (`virDomainQemuMonitorCommand`). QEMU allows one QMP client and libvirt
/// is it, so this is the only way to run `stop`/`loadvm`/`cont` in the same
/// QEMU process. libvirt marks the domain tainted ("custom-monitor") the
/// first time; genidd uses it only to rotate a running guest (`genidctl
/// rotate` and `revert`, and a live value the policy finds stale or shared
/// with another domain), never for the checks after libvirt's own events.
/// Public for the lab, which plays a hostile guest's root through it.
public struct LibvirtMonitor: QEMUMonitor {
    public let domain: Domain
    private static let queue = DispatchQueue(label: "genidd.monitor-passthrough", attributes: .concurrent)

    public init(domain: Domain) {
        self.domain = domain
    }

    public func execute(_ command: String, arguments: [String: JSONValue]?, timeout: Duration) async throws -> JSONValue {
        var message: [String: JSONValue] = ["execute": .string(command)]
        if let arguments { message["arguments"] = .object(arguments) }
        let text = String(decoding: try JSONValue.object(message).jsonData(), as: UTF8.self)
        let replyText = try await blocking { try domain.qemuMonitorCommand(text) }
        let reply = try JSONValue(parsing: Data(replyText.utf8))
        if let error = reply["error"] {
            throw QMPError.commandFailed(command: command, errorClass: error["class"]?.stringValue ?? "unknown",
                                         description: error["desc"]?.stringValue ?? "\(error)")
        }
        guard let result = reply["return"] else {
            throw QMPError.malformedMessage(text: String(replyText.prefix(200)), reason: "no 'return' in the reply")
        }
        return result
    }

    public func humanMonitorCommand(_ commandLine: String, timeout: Duration) async throws -> String {
        try await blocking { try domain.qemuMonitorCommand(commandLine, hmp: true) }
    }

    public func close() async {}

    /// libvirt's call blocks until QEMU answers (loadvm: hundreds of ms);
    /// keep it off the cooperative pool.
    private func blocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            Self.queue.async { continuation.resume(with: Result { try body() }) }
        }
    }
}
