import Prometheus

/// What genidd counts, in Prometheus' registry (served at `GET /metrics`).
public final class DaemonMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()

    /// libvirt lifecycle events received, by rule of the policy table.
    func event(rule: String) {
        registry.makeCounter(name: "genid_events_total", labels: [("rule", rule)],
                             help: "libvirt lifecycle events handled, by policy rule").increment()
    }

    /// Actions taken: rotate-live, write-persistent, give-new-value, record-*, ...
    func action(_ kind: String) {
        registry.makeCounter(name: "genid_actions_total", labels: [("action", kind)],
                             help: "policy actions carried out").increment()
    }

    /// Rotations (new values given) by how: libvirt (observed fresh), persistent, passthrough.
    func rotation(_ how: String) {
        registry.makeCounter(name: "genid_rotations_total", labels: [("how", how)],
                             help: "new generation values given to domains").increment()
    }

    /// Checks that a live value is fresh and seen by the guest, by result.
    func check(_ result: String) {
        registry.makeCounter(name: "genid_checks_total", labels: [("result", result)],
                             help: "live value checks (fresh and seen by the guest)").increment()
    }

    func failure(_ kind: String) {
        registry.makeCounter(name: "genid_failures_total", labels: [("kind", kind)],
                             help: "actions that failed").increment()
    }

    /// From the value's arrival to the guest agent's "all watchers adjusted".
    func readiness(_ duration: Duration) {
        registry.makeDurationHistogram(
            name: "genid_readiness_seconds",
            buckets: [.milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1),
                      .seconds(2), .seconds(5), .seconds(10), .seconds(30), .seconds(60)],
            help: "time until the guest reported all sysgenid watchers adjusted").record(duration)
    }

    func controlRequest(_ command: String, ok: Bool) {
        registry.makeCounter(name: "genid_control_requests_total",
                             labels: [("command", command), ("result", ok ? "ok" : "error")],
                             help: "control socket requests").increment()
    }

    func controlRefused() {
        registry.makeCounter(name: "genid_control_refused_total",
                             help: "control socket connections refused (peer not root nor in the control group)")
            .increment()
    }

    func libvirtConnected(_ connected: Bool) {
        registry.makeGauge(name: "genid_libvirt_connected", help: "1 while genidd holds a libvirt connection")
            .set(to: connected ? 1.0 : 0.0)
    }

    func libvirtReconnect() {
        registry.makeCounter(name: "genid_libvirt_connections_total", help: "libvirt connections opened").increment()
    }

    func hookNotification(_ event: String) {
        registry.makeCounter(name: "genid_hook_notifications_total", labels: [("event", event)],
                             help: "notifications from the libvirt hook script").increment()
    }

    public func text() -> String { registry.emitToString() }
}
