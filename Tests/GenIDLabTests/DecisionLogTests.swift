import Foundation
import Testing
@testable import GenIDLab

/// `genid-lab bench load` counts genidd's `decided` lines: a line as genidd
/// writes it is read whole, and no other line counts.
@Suite struct DecisionLogTests {
    @Test func readsADecidedLine() throws {
        let line = "ts=2026-12-06T03:22:11.303Z level=debug msg=decided domain=load-1 libvirt_event=STARTED/FROM_SNAPSHOT "
            + "ms=7.352 outcome=failed queued_ms=3.910 rule=stateLoaded uuid=da257e49-2250-43f6-aa52-5ed4a6fb5c06"
        let decided = try #require(DecisionLog.decision(Substring(line)))
        #expect(decided.uuid == "da257e49-2250-43f6-aa52-5ed4a6fb5c06")
        #expect(decided.event == "STARTED/FROM_SNAPSHOT" && decided.outcome == "failed")
        #expect(decided.milliseconds == 7.352 && decided.queuedMilliseconds == 3.91)
        #expect(decided.at.timeIntervalSince1970 == 1_796_527_331.303)
    }

    @Test func otherLinesDoNotCount() {
        let event = "ts=2026-12-06T03:22:11.296Z level=debug msg=event domain=load-1 event=STARTED/fromSnapshot rule=stateLoaded"
        #expect(DecisionLog.decision(Substring(event)) == nil)
        #expect(DecisionLog.decision("ts=2026-12-06T03:22:11.296Z level=debug msg=decided domain=load-1") == nil)
    }

    @Test func readsOnlyWholeLinesAsTheLogGrows() throws {
        let path = NSTemporaryDirectory() + "decision-log-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let line = "ts=2026-12-06T03:22:11.303Z level=debug msg=decided domain=a libvirt_event=DEFINED/ADDED "
            + "ms=1.000 outcome=done queued_ms=0.500 rule=definitionChanged uuid=u1\n"
        try (line + String(line.prefix(40))).write(toFile: path, atomically: true, encoding: .utf8)
        let log = DecisionLog(path: path)
        #expect(try log.read().count == 1)
        let handle = try #require(FileHandle(forWritingAtPath: path))
        handle.seekToEndOfFile()
        handle.write(Data(line.dropFirst(40).utf8))
        try handle.close()
        #expect(try log.read().map(\.uuid) == ["u1"])
        #expect(try log.read().isEmpty)
    }
}
