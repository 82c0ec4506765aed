import CLibvirt
import Libvirt
import Testing

@Suite("Lifecycle event decoding")
struct LifecycleEventDecodingTests {
    typealias Kind = DomainLifecycleEvent.Kind

    func kind(_ type: some RawRepresentable<UInt32>, _ detail: some RawRepresentable<UInt32>) -> Kind {
        Kind(type: Int32(type.rawValue), detail: Int32(detail.rawValue))
    }

    @Test func decodesEveryTypeTheIssueNames() {
        #expect(kind(VIR_DOMAIN_EVENT_DEFINED, VIR_DOMAIN_EVENT_DEFINED_ADDED) == .defined(.added))
        #expect(kind(VIR_DOMAIN_EVENT_DEFINED, VIR_DOMAIN_EVENT_DEFINED_UPDATED) == .defined(.updated))
        #expect(kind(VIR_DOMAIN_EVENT_DEFINED, VIR_DOMAIN_EVENT_DEFINED_RENAMED) == .defined(.renamed))
        #expect(kind(VIR_DOMAIN_EVENT_DEFINED, VIR_DOMAIN_EVENT_DEFINED_FROM_SNAPSHOT) == .defined(.fromSnapshot))
        #expect(kind(VIR_DOMAIN_EVENT_UNDEFINED, VIR_DOMAIN_EVENT_UNDEFINED_REMOVED) == .undefined(.removed))
        #expect(kind(VIR_DOMAIN_EVENT_STARTED, VIR_DOMAIN_EVENT_STARTED_BOOTED) == .started(.booted))
        #expect(kind(VIR_DOMAIN_EVENT_STARTED, VIR_DOMAIN_EVENT_STARTED_MIGRATED) == .started(.migrated))
        #expect(kind(VIR_DOMAIN_EVENT_STARTED, VIR_DOMAIN_EVENT_STARTED_RESTORED) == .started(.restored))
        #expect(kind(VIR_DOMAIN_EVENT_STARTED, VIR_DOMAIN_EVENT_STARTED_FROM_SNAPSHOT) == .started(.fromSnapshot))
        #expect(kind(VIR_DOMAIN_EVENT_STARTED, VIR_DOMAIN_EVENT_STARTED_WAKEUP) == .started(.wakeup))
        #expect(kind(VIR_DOMAIN_EVENT_SUSPENDED, VIR_DOMAIN_EVENT_SUSPENDED_PAUSED) == .suspended(.paused))
        #expect(kind(VIR_DOMAIN_EVENT_RESUMED, VIR_DOMAIN_EVENT_RESUMED_UNPAUSED) == .resumed(.unpaused))
        #expect(kind(VIR_DOMAIN_EVENT_RESUMED, VIR_DOMAIN_EVENT_RESUMED_MIGRATED) == .resumed(.migrated))
        #expect(kind(VIR_DOMAIN_EVENT_RESUMED, VIR_DOMAIN_EVENT_RESUMED_FROM_SNAPSHOT) == .resumed(.fromSnapshot))
        #expect(kind(VIR_DOMAIN_EVENT_RESUMED, VIR_DOMAIN_EVENT_RESUMED_POSTCOPY) == .resumed(.postcopy))
        #expect(kind(VIR_DOMAIN_EVENT_STOPPED, VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN) == .stopped(.shutdown))
        #expect(kind(VIR_DOMAIN_EVENT_STOPPED, VIR_DOMAIN_EVENT_STOPPED_DESTROYED) == .stopped(.destroyed))
        #expect(kind(VIR_DOMAIN_EVENT_STOPPED, VIR_DOMAIN_EVENT_STOPPED_CRASHED) == .stopped(.crashed))
        #expect(kind(VIR_DOMAIN_EVENT_STOPPED, VIR_DOMAIN_EVENT_STOPPED_MIGRATED) == .stopped(.migrated))
        #expect(kind(VIR_DOMAIN_EVENT_STOPPED, VIR_DOMAIN_EVENT_STOPPED_SAVED) == .stopped(.saved))
        #expect(kind(VIR_DOMAIN_EVENT_STOPPED, VIR_DOMAIN_EVENT_STOPPED_FAILED) == .stopped(.failed))
        #expect(kind(VIR_DOMAIN_EVENT_STOPPED, VIR_DOMAIN_EVENT_STOPPED_FROM_SNAPSHOT) == .stopped(.fromSnapshot))
        #expect(kind(VIR_DOMAIN_EVENT_SHUTDOWN, VIR_DOMAIN_EVENT_SHUTDOWN_GUEST) == .shutdown(.guest))
        #expect(kind(VIR_DOMAIN_EVENT_PMSUSPENDED, VIR_DOMAIN_EVENT_PMSUSPENDED_MEMORY) == .pmSuspended(.memory))
        #expect(kind(VIR_DOMAIN_EVENT_CRASHED, VIR_DOMAIN_EVENT_CRASHED_PANICKED) == .crashed(.panicked))
    }

    @Test func unknownNumbersFallBack() {
        #expect(Kind(type: 99, detail: 3) == .unknown(type: 99, detail: 3))
        #expect(Kind(type: Int32(VIR_DOMAIN_EVENT_STARTED.rawValue), detail: 77) == .started(.unknown(77)))
        #expect(Kind(type: Int32(VIR_DOMAIN_EVENT_DEFINED.rawValue), detail: 77) == .defined(.unknown(77)))
    }

    @Test func describesLikeVirsh() {
        let event = DomainLifecycleEvent(
            domainName: "web", domainUUID: "x",
            type: Int32(VIR_DOMAIN_EVENT_STARTED.rawValue), detail: Int32(VIR_DOMAIN_EVENT_STARTED_RESTORED.rawValue))
        #expect(event.description == "web: STARTED/RESTORED")
        #expect(Kind.defined(.fromSnapshot).description == "DEFINED/FROM_SNAPSHOT")
        #expect(Kind.stopped(.destroyed).description == "STOPPED/DESTROYED")
    }
}
