import Testing
@testable import GenIDLab

/// The lines the Debian guest's lab hooks and static mmap reader print on
/// the serial console, as the debian-revert scenario reads them back.
@Suite struct DebianConsoleLineTests {
    @Test func hookLinesAmidKernelAndSystemdOutput() {
        let console = """
            [   15.74] mmap-counter[210]: mmap-counter uid=65534 counter=0
            genid-lab-hook 10-genid-lab-quick start generation=1 vmgenid=604431d4-e147-4156-9a5c-d2fd124ffa5c
            [  OK  ] Started sysgenidd.service.
            genid-lab-hook 10-genid-lab-quick done generation=1 vmgenid=604431d4-e147-4156-9a5c-d2fd124ffa5c\r
            genid-lab-hook 90-genid-lab-slow start generation=1 vmgenid=
            genid-lab-hook truncated start
            """
        let lines = DebianHookLine.all(in: console)
        #expect(lines.map(\.hook) == ["10-genid-lab-quick", "10-genid-lab-quick", "90-genid-lab-slow"])
        #expect(lines.map(\.phase) == ["start", "done", "start"])
        #expect(lines[1].value == "604431d4-e147-4156-9a5c-d2fd124ffa5c")
        #expect(lines[2].value == "" && lines[2].generation == 1)
    }

    @Test func mmapCounterLinesWithJournalPrefixes() {
        let console = """
            [   15.746248] mmap-counter[210]: mmap-counter uid=65534 counter=0
            mmap-counter uid=65534 counter=1
            mmap-counter uid=abc counter=2
            """
        #expect(MmapCounterLine.all(in: console) == [MmapCounterLine(uid: 65534, counter: 0),
                                                     MmapCounterLine(uid: 65534, counter: 1)])
    }
}
