import Foundation
import GenIDControl
import GenerationStore
import Logging

/// What each control command does.
struct ControlHandler: Sendable {
    let guardian: DomainGuard
    let ledger: WatchedStore
    let configuration: DaemonConfiguration
    let metrics: DaemonMetrics
    let logger: Logger

    func handle(_ request: ControlRequest, peer: PeerCredentials) async -> ControlResponse {
        let response: ControlResponse
        do {
            response = try await run(request)
        } catch {
            response = .failure("\(error)")
        }
        metrics.controlRequest(request.command.rawValue, ok: response.ok)
        logger.info("control request", metadata: [
            "command": "\(request.command.rawValue)", "domain": "\(request.domain ?? "-")", "uid": "\(peer.uid)",
            "ok": "\(response.ok)"])
        return response
    }

    private func run(_ request: ControlRequest) async throws -> ControlResponse {
        switch request.command {
        case .status:
            let failure = await ledger.probe()
            return ControlResponse(status: try await guardian.status(domainNamed: request.domain),
                                   ledger: LedgerStatus(location: ledger.location, host: ledger.host,
                                                        reachable: failure == nil, error: failure))
        case .history:
            return ControlResponse(history: try await guardian.store.history(vm: request.domain, limit: request.limit))
        case .rotate:
            return ControlResponse(rotation: try await guardian.rotate(domainNamed: try required(request.domain, "domain")))
        case .revert:
            let domain = try required(request.domain, "domain")
            let snapshot = try required(request.snapshot, "snapshot")
            return ControlResponse(rotation: try await guardian.revert(domainNamed: domain, snapshot: snapshot))
        case .waitReady:
            let domain = try required(request.domain, "domain")
            let seconds = request.timeoutSeconds ?? configuration.readinessTimeoutSeconds
            guard seconds > 0 else { throw DaemonError.configuration("timeoutSeconds must be positive") }
            let started = ContinuousClock.now
            let limit = Duration.milliseconds(Int64(seconds * 1000))
            let value = try await guardian.currentValue(domainNamed: domain, connectedBy: started + limit)
            let readiness = try await guardian.readiness.wait(domain: domain, value: value, until: started + limit,
                                                              limit: limit)
            return ControlResponse(ready: ReadyReport(domain: domain, value: value.description,
                                                      waitedMilliseconds: (ContinuousClock.now - started).seconds * 1000,
                                                      readinessMilliseconds: readiness))
        case .reconcile:
            if let domain = request.domain {
                await guardian.reconcile(domainNamed: domain)
            } else {
                await guardian.reconcile()
            }
            return ControlResponse(message: "reconciliation pass done")
        case .notify:
            let domain = try required(request.domain, "domain")
            metrics.hookNotification(Self.metricLabel(forHookEvent: request.event))
            // Called while libvirt runs the hook, holding the domain: look at
            // it only after the hook has returned.
            Task { [guardian] in
                try? await Task.sleep(for: .seconds(1))
                await guardian.reconcile(domainNamed: domain)
            }
            return ControlResponse(message: "noted")
        }
    }

    /// libvirt's hook operations are a short fixed list; anything else is
    /// "other", so a caller cannot grow the metric without bound.
    static func metricLabel(forHookEvent event: String?) -> String {
        guard let event, event.count <= 40,
              event.allSatisfy({ $0.isLowercase || $0 == "-" || $0 == "/" }) else { return "other" }
        return event
    }

    private func required(_ value: String?, _ name: String) throws -> String {
        guard let value, !value.isEmpty else { throw DaemonError.configuration("this command needs '\(name)'") }
        return value
    }
}
