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
        var second = cache.region(in: memory)
        while second == nil { second = cache.region(in: memory) }  // the next walk, at most 10 ms on
        #expect(second?.address == UInt64(moved) + 40 && cache.walks == 2)
    }

    /// A guest that rewrites its tables at every look gets a walk every
    /// interval, not one per look.
    @Test func tablesRewrittenAllTheTimeAreWalkedOnlyNowAndThen() {
        let memory = ACPIImage().memory()
        var cache = RememberedWalk.Cache()
        cache.interval = .seconds(3600)
        for look in 0..<1000 {
            let vgia = UInt32(ACPIImage.pageAddress - 0x1000 * (look % 2))
            memory.poke(ACPIImage.vmgenidSSDT(vgia: vgia), at: ACPIImage.ssdtAddress)
            _ = cache.region(in: memory)
        }
        #expect(cache.walks == 1)
    }

    /// The BIOS area is not a table: a guest writing there (it is RAM) does
    /// not make genidd walk again.
    @Test func writesBelowTheTablesDoNotCountAsTableChanges() {
        let memory = ACPIImage().memory()
        var cache = RememberedWalk.Cache()
        let first = cache.region(in: memory)
        memory.poke([1, 2, 3, 4], at: 0xe_8000)
        #expect(cache.region(in: memory) == first && cache.walks == 1)
    }

    @Test func withoutTablesTheWalkIsRetriedOnlyNowAndThen() {
        let memory = ArrayGuestMemory(size: ACPIImage.ramSize)
        var cache = RememberedWalk.Cache()
        cache.interval = .seconds(3600)
        var found = 0
        for _ in 0..<1000 where cache.region(in: memory) != nil { found += 1 }
        #expect(found == 0 && cache.walks == 1)
    }

    @Test func whatAGuestCanCauseAtWillIsThrottled() {
        let throttle = Throttle(interval: .seconds(60))
        let start = ContinuousClock.now
        #expect(throttle.admit("web1/reset-reasserted", now: start) == 0)
        for second in 1...59 {
            #expect(throttle.admit("web1/reset-reasserted", now: start + .seconds(second)) == nil)
        }
        #expect(throttle.admit("web1/reset-exposed", now: start + .seconds(1)) == 0)
        #expect(throttle.admit("web2/reset-reasserted", now: start + .seconds(1)) == 0)
        #expect(throttle.admit("web1/reset-reasserted", now: start + .seconds(60)) == 59)
        #expect(throttle.admit("web1/reset-reasserted", now: start + .seconds(121)) == 0)
        #expect(Throttle.leftOut(59, interval: .seconds(60)) == " (59 more like it in the 60 s before were left out)")
        #expect(Throttle.leftOut(0, interval: .seconds(60)).isEmpty)
    }
}
