import Foundation
import Testing

/// A hook gets standard input, output and error, and no other descriptor of
/// sysgenidd's: not a client's connection, not a pipe. Descriptors created
/// while a hook is being spawned are the risk (accept then FD_CLOEXEC, pipe
/// then FD_CLOEXEC), so clients connect and disconnect all the while.
@Suite(.serialized, .enabled(if: GuestDaemon.isRoot, "hooks run as root"))
struct HookDescriptorTests {
    @Test func hooksInheritOnlyStandardDescriptors() async throws {
        let hookCount = 5, generations = 12
        let daemon = try await GuestDaemon(runHooks: true) { daemon in
            for index in 1...hookCount {
                // exec: ls lists its own descriptors, the shell's are gone.
                try daemon.hook("\(index)0-list-fds", #"exec ls -l /proc/self/fd/ > \#(daemon.directory)/fds-\#(index)-$SYSGENID_GENERATION"#)
            }
        }
        let socket = daemon.socket
        let stop = Completion()
        let hammer = Thread {
            while !stop.isDone { connectAndClose(socket) }
        }
        hammer.start()
        defer { stop.done() }
        for _ in 1...generations { try daemon.newGeneration() }
        stop.done()

        var listings = 0
        for generation in 1...generations {
            for index in 1...hookCount {
                let path = "\(daemon.directory)/fds-\(index)-\(generation)"
                guard let listing = try? String(contentsOfFile: path, encoding: .utf8) else { continue }
                listings += 1
                // "lr-x------ 1 root root 64 … 3 -> /proc/123/fd": ls's own directory is expected.
                let unexpected = listing.split(separator: "\n").filter { $0.contains(" -> ") }.compactMap { line -> String? in
                    let words = line.split(separator: " ")
                    guard let arrow = words.firstIndex(of: "->"), arrow > 0, arrow + 1 < words.count else { return String(line) }
                    let fd = words[arrow - 1], target = words[arrow + 1]
                    if ["0", "1", "2"].contains(fd) { return nil }
                    if target.hasPrefix("/proc/") && target.hasSuffix("/fd") { return nil }
                    return "\(fd) -> \(target)"
                }
                #expect(unexpected.isEmpty, "generation \(generation), hook \(index) inherited \(unexpected)")
            }
        }
        #expect(listings == hookCount * generations, "every hook ran every time")
    }
}

/// A flag one thread sets and another polls.
private final class Completion: @unchecked Sendable {
    private let lock = NSLock()
    private var finished = false
    var isDone: Bool { lock.withLock { finished } }
    func done() { lock.withLock { finished = true } }
}

private func connectAndClose(_ path: String) {
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return }
    defer { close(fd) }
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    withUnsafeMutableBytes(of: &address.sun_path) { raw in
        for (index, byte) in path.utf8.prefix(raw.count - 1).enumerated() { raw[index] = byte }
    }
    _ = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    }
}
