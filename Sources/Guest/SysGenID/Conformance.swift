#if canImport(Glibc)
import Glibc
#endif

/// One check of the conformance suite.
public struct ConformanceCheck: Sendable, Equatable {
    public var section: String
    public var name: String
    public var passed: Bool
    public var detail: String
}

/// The in-guest conformance suite: every row of the sysgenid contract
/// (Documentation/sysgenid-abi.md), for the kernel module's device and, row
/// by row mapped to its socket and page-file equivalent, for the userspace
/// provider. A port of Kernel/sysgenid/tests/sysgenid-smoke.c.
///
/// Needs root. Checks that drop privileges run in a child process
/// (`childCommand` + case name), which reports through its exit status.
public final class ConformanceSuite: @unchecked Sendable {
    public let provider: SysGenIDProvider
    public let kind: SysGenIDProviderKind
    /// The counter must be 0 at the start (a freshly started provider).
    public var fresh = false
    /// argv prefix that runs `ConformanceSuite.runChild` (e.g. sysgenidctl's
    /// hidden `conformance-child`).
    public var childCommand: [String]
    /// Scale of the chaos and stress parts (1 = the C suite's sizes).
    public var stressScale = 1.0
    public var progress: (String) -> Void = { _ in }

    public private(set) var checks: [ConformanceCheck] = []
    private var section = ""
    private(set) var page: GenerationPage!
    let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))

    public init(provider: SysGenIDProvider, childCommand: [String]) throws(SysGenIDError) {
        let resolved = try provider.resolved()
        self.provider = resolved
        kind = resolved.kind!
        self.childCommand = childCommand
    }

    public var passedCount: Int { checks.filter(\.passed).count }
    public var failedCount: Int { checks.count - passedCount }

    // MARK: helpers

    func begin(_ name: String) {
        section = name
        progress(name)
    }

    func expect(_ ok: Bool, _ name: String, _ detail: @autoclosure () -> String = "") {
        checks.append(ConformanceCheck(section: section, name: name, passed: ok, detail: detail()))
    }

    func expectError<T>(_ result: Result<T, Errno>, _ expected: Errno, _ name: String) {
        switch result {
        case .success(let value): expect(false, "\(name) fails \(expected.name)", "it succeeded (\(value))")
        case .failure(let error):
            expect(error == expected, "\(name) fails \(expected.name)", error == expected ? "" : "got \(error.name)")
        }
    }

    func open(nonBlocking: Bool = false, flags: Int32 = O_RDWR) -> (any SysGenIDTransport)? {
        do {
            return try provider.openTransport(flags: flags | (nonBlocking ? O_NONBLOCK : 0))
        } catch {
            expect(false, "open a new \(kind.rawValue) handle", "\(error)")
            return nil
        }
    }

    var current: UInt32 { page.current }

    func ack(_ handle: any SysGenIDTransport) -> Bool {
        if case .success = handle.acknowledge(current) { return true }
        return false
    }

    func ok<T>(_ result: Result<T, Errno>) -> Bool {
        if case .success = result { return true }
        return false
    }

    func readable(_ handle: any SysGenIDTransport) -> Bool {
        (try? handle.poll(timeoutMilliseconds: 0).get()) ?? false
    }

    func sysfsGeneration() -> Int64? {
        guard let bytes = try? readFile("/sys/class/misc/sysgenid/generation"), bytes.last == UInt8(ascii: "\n") else {
            return nil
        }
        return Int64(String(decoding: bytes.dropLast(), as: UTF8.self))
    }

    /// Runs `body` on a thread; the result can be waited for.
    func background<T>(_ body: @escaping @Sendable () -> T) -> (PosixThread, Completion<(T, Int64)>) {
        let completion = Completion<(T, Int64)>()
        let thread = PosixThread {
            let start = monotonicMilliseconds()
            let result = body()
            completion.complete((result, monotonicMilliseconds() - start))
        }
        return (thread, completion)
    }

    // MARK: the suite

    public func run() -> [ConformanceCheck] {
        installSignalHandlers()
        begin("open, node, counter")
        do {
            page = try provider.mapPage()
        } catch {
            expect(false, "map the counter page", "\(error)")
            return checks
        }
        guard let main = open() else { return checks }
        expect(true, "open a \(kind.rawValue) handle read-write")
        testNode(main)
        testRead(main)
        testWrite(main)
        testMapping(main)
        testGenerationChange(main)
        testTriggerMinimum(main)
        testUnknownIoctls(main)
        testTracking()
        testWaitWakeups()
        testBlockingRead()
        testPrivileges(main)
        testEvents(main)
        testChaos()
        testStress()
        main.close()
        return checks
    }
}
