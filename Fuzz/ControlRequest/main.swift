// libFuzzer target for genidd's control requests (Sources/Host/GenIDControl).
//
// Built by Fuzz/run with the Foundation-only files of GenIDControl that a
// request goes through: ControlRequest, ControlCoding, CheckedRequest,
// ControlRole and PrintableText. The input is the bytes a local peer sends
// on the control socket; the harness takes its first line, as genidd does.
//
// Invariants (a violation traps, so libFuzzer reports a crash):
//   - decoding and `checked()` never trap: a request is either refused with
//     an error, or checked;
//   - a checked request's values are what the handler may use without
//     further checks: names non-empty, bounded, free of control and format
//     characters;
//     a history page of 0...1000 records before a positive id; a wait of
//     more than 0 s and at most an hour, which the handler adds to "now";
//   - every text genidd would log or print of it comes out of PrintableText
//     with no control character left.
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzControlRequest(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: size > 0 ? data : nil, count: size))
    let line = bytes.prefix { $0 != UInt8(ascii: "\n") }
    guard let request = try? ControlCoding.decode(ControlRequest.self, from: Data(line)) else { return 0 }
    let checked: CheckedRequest
    do {
        checked = try request.checked()
    } catch {
        requirePrintable(error.description)
        return 0
    }
    _ = request.command.requiredRole
    switch checked {
    case .status(let domain), .reconcile(let domain):
        domain.map(requireName)
    case .history(let domain, let page):
        domain.map(requireName)
        guard (0...ControlLimits.maximumHistoryPage).contains(page.limit), (page.before ?? 1) > 0 else {
            fail("history page out of bounds: \(page)")
        }
        _ = page.limit + 1  // the handler asks for one more
    case .rotate(let domain):
        requireName(domain)
    case .revert(let domain, let other), .notify(let domain, let other):
        requireName(domain)
        requireName(other)
    case .waitReady(let domain, let timeout):
        requireName(domain)
        if let timeout {
            guard timeout > .zero, timeout <= .seconds(ControlLimits.maximumWaitSeconds + 0.001) else {
                fail("wait-ready timeout out of bounds: \(timeout)")
            }
            _ = ContinuousClock.now + timeout  // the handler's deadline
        }
    }
    return 0
}

private func requireName(_ name: String) {
    guard !name.isEmpty, name.utf8.count <= ControlLimits.maximumNameBytes else {
        fail("name of \(name.utf8.count) bytes accepted")
    }
    // Scalars, not Characters: a backslash followed by a combining mark is
    // one Character that is not "\\" (a fuzzer's find in the harness).
    guard !name.unicodeScalars.contains(where: PrintableText.isUnsafe) else {
        fail("name with control or format characters accepted: \(PrintableText.escaped(name))")
    }
    requirePrintable(name)
}

private func requirePrintable(_ text: String) {
    let shown = PrintableText.escaped(text)
    guard !shown.unicodeScalars.contains(where: PrintableText.isUnsafe) else {
        fail("a control character survived PrintableText: \(shown.debugDescription)")
    }
}

private func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("control-request invariant violated: \(message)\n".utf8))
    abort()
}
