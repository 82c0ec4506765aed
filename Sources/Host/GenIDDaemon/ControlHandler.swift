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
            response = try await run(try request.checked())
        } catch {
            response = .failure("\(error)")
        }
        metrics.controlRequest(request.command.rawValue, ok: response.ok)
        logger.info("control request", metadata: [
            "command": "\(request.command.rawValue)", "domain": "\(request.domain ?? "-")", "uid": "\(peer.uid)",
            "ok": "\(response.ok)"])
        return response
    }

    private func run(_ request: CheckedRequest) async throws -> ControlResponse {
        switch request {
        case .status(let domain):
            let failure = await ledger.probe()
            return ControlResponse(status: try await guardian.status(domainNamed: domain),
                                   ledger: LedgerStatus(location: ledger.location, host: ledger.host,
                                                        reachable: failure == nil, error: failure))
        case .history(let domain, let page):
            // One more than the page: whether an older page exists.
            let records = try await guardian.store.history(vm: domain, limit: page.limit + 1, before: page.before)
            let shown = Array(records.suffix(page.limit))
            return ControlResponse(history: shown,
                                   historyBefore: records.count > page.limit ? shown.first?.id : nil)
        case .rotate(let domain):
            return ControlResponse(rotation: try await guardian.rotate(domainNamed: domain))
        case .revert(let domain, let snapshot):
            return ControlResponse(rotation: try await guardian.revert(domainNamed: domain, snapshot: snapshot))
        case .waitReady(let domain, let timeout):
            let started = ContinuousClock.now
            let limit = timeout ?? configuration.readinessTimeout
            let value = try await guardian.currentValue(domainNamed: domain, connectedBy: started + limit)
            let readiness = try await guardian.readiness.wait(domain: domain, value: value, until: started + limit,
                                                              limit: limit)
            return ControlResponse(ready: ReadyReport(domain: domain, value: value.description,
                                                      waitedMilliseconds: (ContinuousClock.now - started).seconds * 1000,
                                                      readinessMilliseconds: readiness))
        case .reconcile(let domain):
            if let domain {
                await guardian.reconcile(domainNamed: domain)
            } else {
                await guardian.reconcile()
            }
            return ControlResponse(message: "reconciliation pass done")
        case .notify(let domain, let event):
            metrics.hookNotification(Self.metricLabel(forHookEvent: event))
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
    static func metricLabel(forHookEvent event: String) -> String {
        guard event.count <= 40,
              event.allSatisfy({ $0.isLowercase || $0 == "-" || $0 == "/" }) else { return "other" }
        return event
    }
}
