import Logging
import ServiceLifecycle

/// While the ledger is unreachable, asks it every `interval` whether it is
/// back; when it is, reconciles every domain: whatever genidd could not
/// record meanwhile (a migration's move, a state load it had to refuse) is
/// caught then, without waiting for the next event.
struct LedgerWatch: Service {
    let ledger: WatchedStore
    let guardian: DomainGuard
    let logger: Logger
    var interval: Duration = .seconds(2)

    func run() async throws {
        var recoveries = ledger.recoveries
        var reported = false
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                try await Task.sleep(for: interval)
            } catch {
                return
            }
            if ledger.failure != nil, let failure = await ledger.probe() {
                if !reported { logger.warning("ledger unreachable; watching for it", metadata: ["error": "\(failure)"]) }
                reported = true
                continue
            }
            // Back (noticed here or by any other operation since the last look).
            guard ledger.recoveries != recoveries else { continue }
            recoveries = ledger.recoveries
            reported = false
            logger.info("ledger reachable again; reconciling every domain")
            await guardian.reconcile()
        }
    }
}
