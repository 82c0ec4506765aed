import Foundation
import Libvirt
import Synchronization

/// libvirt's built-in mock hypervisor: no daemon, one predefined running
/// domain "test". All connections of this process share its state.
let testURI = "test:///default"

/// A unique domain name, so tests never see each other's domains.
func uniqueDomainName(_ prefix: String) -> String {
    "genid-\(prefix)-\(UUID().uuidString.prefix(8).lowercased())"
}

/// A minimal domain for the test driver.
func testDomainXML(name: String, genid: String? = "") -> String {
    var xml = """
        <domain type='test'>
          <name>\(name)</name>
          <memory unit='KiB'>65536</memory>
          <vcpu>1</vcpu>
          <os><type arch='x86_64'>hvm</type></os>

        """
    if let genid { xml += genid.isEmpty ? "  <genid/>\n" : "  <genid>\(genid)</genid>\n" }
    xml += "</domain>\n"
    return xml
}

/// Collects a lifecycle stream in the background; tests wait for what they expect.
final class EventCollector: Sendable {
    private final class Storage: Sendable {
        let events = Mutex<[DomainLifecycleEvent]>([])
    }
    private let storage = Storage()
    private let task: Task<Void, Never>

    init(_ stream: AsyncStream<DomainLifecycleEvent>) {
        let storage = storage
        task = Task { for await event in stream { storage.events.withLock { $0.append(event) } } }
    }

    /// Events of one domain so far.
    func events(of domain: String) -> [DomainLifecycleEvent.Kind] {
        storage.events.withLock { $0.filter { $0.domainName == domain }.map(\.kind) }
    }

    /// Waits until `domain` has had all of `kinds` (in order, others may be
    /// in between) or `seconds` pass; returns the domain's events.
    func wait(
        for kinds: [DomainLifecycleEvent.Kind], of domain: String, seconds: Double = 5
    ) async -> [DomainLifecycleEvent.Kind] {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while true {
            let seen = events(of: domain)
            if Self.contains(seen, inOrder: kinds) || ContinuousClock.now >= deadline { return seen }
            try? await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Waits until the stream has ended (true) or `seconds` pass (false).
    func waitForEnd(seconds: Double = 5) async -> Bool {
        let task = self.task
        return await withTaskGroup(of: Bool.self) { group in
            group.addTask { await task.value; return true }
            group.addTask { try? await Task.sleep(for: .seconds(seconds)); return false }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
    }

    static func contains(_ seen: [DomainLifecycleEvent.Kind], inOrder kinds: [DomainLifecycleEvent.Kind]) -> Bool {
        var index = seen.startIndex
        for kind in kinds {
            guard let found = seen[index...].firstIndex(of: kind) else { return false }
            index = found + 1
        }
        return true
    }
}
