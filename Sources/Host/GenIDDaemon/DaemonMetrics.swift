#if canImport(Glibc)
import Glibc
#endif
import Prometheus

/// What genidd counts, in Prometheus' registry (served at `GET /metrics`).
/// Every name is `genid_<name>_<unit>`.
public final class DaemonMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()

    /// libvirt lifecycle events received, by rule of the policy table.
    func event(rule: String) {
        counter("events", help: "libvirt lifecycle events handled, by policy rule", labels: [("rule", rule)])
    }

    /// Actions taken: rotate-live, write-persistent, give-new-value, record-*, ...
    func action(_ kind: String) {
        counter("actions", help: "policy actions carried out", labels: [("action", kind)])
    }

    /// Rotations (new values given) by how: libvirt (observed fresh), persistent, passthrough.
    func rotation(_ how: String) {
        counter("rotations", help: "new generation values given to domains", labels: [("how", how)])
    }

    /// Checks that a live value is fresh and seen by the guest, by result.
    func check(_ result: String) {
        counter("checks", help: "live value checks (fresh and seen by the guest)", labels: [("result", result)])
    }

    func failure(_ kind: String) {
        counter("failures", help: "actions that failed", labels: [("kind", kind)])
    }

    /// From the value's arrival to the guest agent's "all watchers adjusted".
    func readiness(_ duration: Duration) {
        registry.makeDurationHistogram(
            descriptor: name("readiness", unit: "seconds",
                             help: "time until the guest reported all sysgenid watchers adjusted"),
            buckets: [.milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1),
                      .seconds(2), .seconds(5), .seconds(10), .seconds(30), .seconds(60)]).record(duration)
    }

    func controlRequest(_ command: String, ok: Bool) {
        counter("control_requests", help: "control socket requests",
                labels: [("command", command), ("result", ok ? "ok" : "error")])
    }

    /// `reason`: not-allowed (no role), role (a reader asked an operator's
    /// command), too-many (over the connection limit).
    func controlRefused(reason: String) {
        counter("control_refused", help: "control socket connections and requests refused, by reason",
                labels: [("reason", reason)])
    }

    /// An accept that failed for want of descriptors or memory (`server`:
    /// control or metrics); the server waits and accepts again.
    func acceptFailure(server: String, errno code: Int32) {
        counter("accept_failures", help: "accepts that failed for want of descriptors or memory, by server and error",
                labels: [("server", server), ("error", Self.errnoName(code))])
    }

    /// Metrics connections closed at once because the endpoint held its limit.
    func metricsRefused() {
        counter("metrics_refused", help: "metrics connections closed at once: the endpoint held its limit")
    }

    private static func errnoName(_ code: Int32) -> String {
        switch code {
        case EMFILE: "EMFILE"
        case ENFILE: "ENFILE"
        case ENOBUFS: "ENOBUFS"
        case ENOMEM: "ENOMEM"
        default: "other"
        }
    }

    func libvirtConnected(_ connected: Bool) {
        flag("libvirt", unit: "connected", help: "1 while genidd holds a libvirt connection", connected)
    }

    func libvirtReconnect() {
        counter("libvirt_connections", help: "libvirt connections opened")
    }

    func hookNotification(_ event: String) {
        counter("hook_notifications", help: "notifications from the libvirt hook script", labels: [("event", event)])
    }

    /// 1 while the ledger answers (set by every ledger operation), and the
    /// operations it failed because it could not be reached.
    func ledgerReachable(_ reachable: Bool) {
        flag("ledger", unit: "reachable", help: "1 while the last ledger operation reached the ledger", reachable)
    }

    func ledgerFailure() {
        counter("ledger_failures", help: "ledger operations that failed because the ledger could not be reached")
    }

    public func text() -> String { registry.emitToString() }

    /// A gauge that is 1 or 0.
    private func flag(_ metric: String, unit: String, help: String, _ value: Bool) {
        registry.makeGauge(descriptor: name(metric, unit: unit, help: help)).set(to: value ? 1.0 : 0.0)
    }

    private func counter(_ metric: String, help: String, labels: [(String, String)] = []) {
        registry.makeCounter(descriptor: name(metric, unit: "total", help: help), labels: labels).increment()
    }

    private func name(_ metric: String, unit: String, help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "genid", metricName: metric, unitName: unit, helpText: help)
    }
}
