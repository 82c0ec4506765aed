import GuestMemoryFixtures
import Testing
import VMGenID
@testable import GenIDDaemon

/// After a reset genidd watches the VMGENID page for seconds: it walks the
/// guest's tables again only when they change, and a guest that resets in
/// a loop does not grow the ledger by a row each time.
@Suite struct ResetRepairTests {
    @Test func theWalkIsRememberedUntilTheTablesChange() {
        let memory = ACPIImage().memory()
        var cache = RememberedWalk.Cache()
        let first = cache.region(in: memory)
        #expect(first != nil)
        var regions: [SignalRegion?] = []
        for _ in 0..<1000 { regions.append(cache.region(in: memory)) }
        #expect(regions.allSatisfy { $0 == first })
        #expect(cache.walks == 1)

        // The value changing is not a table changing.
        memory.poke([UInt8](repeating: 0xaa, count: 16), at: Int(first?.address ?? 0))
        let unchanged = cache.region(in: memory)
        #expect(unchanged == first && cache.walks == 1)

        // The firmware moves the page: the SSDT changes, the walk is done again.
        let moved = ACPIImage.pageAddress - 0x1000
        memory.poke(ACPIImage.vmgenidSSDT(vgia: UInt32(moved)), at: ACPIImage.ssdtAddress)
        let second = cache.region(in: memory)
        #expect(second?.address == UInt64(moved) + 40 && cache.walks == 2)
    }

    @Test func withoutTablesTheWalkIsRetriedOnlyNowAndThen() {
        let memory = ArrayGuestMemory(size: ACPIImage.ramSize)
        var cache = RememberedWalk.Cache()
        cache.retry = .seconds(3600)
        var found = 0
        for _ in 0..<1000 where cache.region(in: memory) != nil { found += 1 }
        #expect(found == 0 && cache.walks == 1)
    }

    @Test func auditRowsAGuestCanCauseAreThrottled() {
        let throttle = AuditThrottle(interval: .seconds(60))
        let start = ContinuousClock.now
        #expect(throttle.admit(domain: "web1", kind: "reset-reasserted", now: start) == 0)
        for second in 1...59 {
            #expect(throttle.admit(domain: "web1", kind: "reset-reasserted", now: start + .seconds(second)) == nil)
        }
        #expect(throttle.admit(domain: "web1", kind: "reset-exposed", now: start + .seconds(1)) == 0)
        #expect(throttle.admit(domain: "web2", kind: "reset-reasserted", now: start + .seconds(1)) == 0)
        #expect(throttle.admit(domain: "web1", kind: "reset-reasserted", now: start + .seconds(60)) == 59)
        #expect(throttle.admit(domain: "web1", kind: "reset-reasserted", now: start + .seconds(121)) == 0)
    }
}
