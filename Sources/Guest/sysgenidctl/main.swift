#if canImport(Glibc)
import Glibc
#endif
import SysGenID

// sysgenidctl: the system generation counter from the command line, over
// /dev/sysgenid (kernel module) or the userspace provider (sysgenidd).

let usage = """
    usage: sysgenidctl [--provider device|userspace|automatic] [--json] COMMAND

    The system generation counter moves up by one each time this VM is
    cloned, restored from a snapshot or migrated with a new VMGENID (and on
    TRIGGER). Programs that must not repeat themselves after such a change
    (random number generators, UUID and nonce caches) watch it, reseed, and
    acknowledge the new value.

    commands:
      get                      print the current generation (from the mapped page)
      watch                    print each new generation and acknowledge it
      wait-watchers [--timeout MS]
                               wait until every tracked watcher acknowledged
                               the current generation (0 = no timeout; fails
                               ETIME on timeout, EINTR if our own handle is outdated)
      trigger [--min N]        raise the counter to max(N, counter + 1); needs
                               CAP_CHECKPOINT_RESTORE or CAP_SYS_ADMIN
      exec [--no-track] -- CMD [ARG...]
                               run CMD at every new generation with
                               SYSGENID_GENERATION=<n> in its environment, and
                               acknowledge the generation when CMD exits 0 (as a
                               tracked watcher, so wait-watchers waits for CMD)
      vmclock [--follow] [--interval MS] [--device PATH]
                               read the VMClock page (/dev/vmclock0, Linux >= 7.0)
                               mapped read-only, under its sequence counter: its
                               VM generation counter (which changes at every
                               restore when the host maintains it), disruption
                               marker and flags; --follow prints a line each
                               time the counter or the marker changes (polled
                               every MS, default 10); needs no privilege
                               beyond read access to the device
      prng-example DIRECTORY [--reseed]
                               a resident PRNG, seeded once at start, that answers
                               'echo > DIRECTORY/request; cat DIRECTORY/reply'
                               with its next number (FIFOs it makes); clones of
                               one snapshot repeat its numbers unless --reseed:
                               then it reseeds whenever the generation moved on
                               (what genid-lab check's demonstration runs)
      conformance [--fresh] [--format text|lines|json]
                               run the conformance suite against the provider
                               (needs root; --fresh: expect the counter at 0)

    options:
      --provider P   device (/dev/sysgenid), userspace (the sysgenidd socket
                     /run/sysgenid/sysgenid.sock and page /run/sysgenid/generation),
                     or automatic (default: the device if it opens, else the socket)
      --socket PATH [--page PATH]
                     the userspace provider at other paths (after COMMAND)
      --json         machine-readable output (one JSON object per line for watch/exec)
      -h, --help     this text

    exit status: 0 success, 1 failure (the errno is named), 2 WAIT_WATCHERS timed
    out (ETIME), 64 usage error.

    examples:
      sysgenidctl get
      sysgenidctl --json watch
      sysgenidctl exec -- sh -c 'rm -f /var/cache/app/nonces; echo reseeded $SYSGENID_GENERATION'
      sysgenidctl trigger && sysgenidctl wait-watchers --timeout 5000
      sysgenidctl conformance --provider userspace

    """

func fail(_ message: String, status: Int32 = 1) -> Never {
    if json {
        print("{\"error\":\(jsonString(message))}")
    }
    let line = "sysgenidctl: \(message)\n"
    _ = line.withCString { write(STDERR_FILENO, $0, strlen($0)) }
    exit(status)
}

func jsonString(_ text: String) -> String {
    var out = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\t": out += "\\t"
        case "\r": out += "\\r"
        default:
            if scalar.value < 0x20 {
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
    }
    return out + "\""
}

func errorJSON(_ error: SysGenIDError) -> String {
    "{\"error\":\(jsonString(error.description)),\"errno\":\(jsonString(error.errno.name)),\"errno_code\":\(error.errno.code)}"
}

nonisolated(unsafe) var json = false
nonisolated(unsafe) var providerChoice = SysGenIDProvider.automatic
var arguments = Array(CommandLine.arguments.dropFirst())

// Hidden: the conformance suite's privilege checks run here, in a child.
if arguments.first == "conformance-child" {
    exit(ConformanceSuite.runChild(arguments: Array(arguments.dropFirst())))
}

var command: String?
nonisolated(unsafe) var rest: [String] = []
while !arguments.isEmpty {
    let argument = arguments.removeFirst()
    if command != nil {
        if argument == "--json" { json = true; continue }
        if argument == "--provider" {
            guard !arguments.isEmpty, let choice = SysGenIDProvider(name: arguments.removeFirst()) else {
                fail("--provider takes device, userspace or automatic", status: 64)
            }
            providerChoice = choice
            continue
        }
        if argument == "--" { rest.append(argument); rest += arguments; arguments = []; break }
        rest.append(argument)
        continue
    }
    switch argument {
    case "-h", "--help", "help":
        print(usage, terminator: "")
        exit(0)
    case "--json": json = true
    case "--provider":
        guard !arguments.isEmpty, let choice = SysGenIDProvider(name: arguments.removeFirst()) else {
            fail("--provider takes device, userspace or automatic", status: 64)
        }
        providerChoice = choice
    default:
        if argument.hasPrefix("-") { fail("unknown option '\(argument)'\n\n\(usage)", status: 64) }
        command = argument
    }
}

// --socket / --page: the userspace provider at other paths.
if let socketIndex = rest.firstIndex(of: "--socket"), socketIndex + 1 < rest.count {
    let socket = rest[socketIndex + 1]
    rest.removeSubrange(socketIndex...(socketIndex + 1))
    var page = SysGenIDProvider.defaultPagePath
    if let pageIndex = rest.firstIndex(of: "--page"), pageIndex + 1 < rest.count {
        page = rest[pageIndex + 1]
        rest.removeSubrange(pageIndex...(pageIndex + 1))
    }
    providerChoice = .userspace(socketPath: socket, pagePath: page)
}

func option(_ name: String) -> String? {
    guard let index = rest.firstIndex(of: name) else { return nil }
    guard index + 1 < rest.count else { fail("\(name) needs a value", status: 64) }
    let value = rest[index + 1]
    rest.removeSubrange(index...(index + 1))
    return value
}

func flag(_ name: String) -> Bool {
    guard let index = rest.firstIndex(of: name) else { return false }
    rest.remove(at: index)
    return true
}

func open() -> SysGenID {
    do {
        return try SysGenID(provider: providerChoice)
    } catch {
        finish(error)
    }
}

func finish(_ error: SysGenIDError) -> Never {
    if json { print(errorJSON(error)) }
    let line = "sysgenidctl: \(error)\n"
    _ = line.withCString { write(STDERR_FILENO, $0, strlen($0)) }
    exit(error.errno == .ETIME ? 2 : 1)
}

func expectNoMoreArguments() {
    if !rest.isEmpty { fail("unexpected argument '\(rest[0])'\n\n\(usage)", status: 64) }
}

func generationLine(_ generation: UInt32, _ genid: SysGenID) -> String {
    json ? "{\"generation\":\(generation),\"provider\":\(jsonString(genid.kind.reportName))}" : String(generation)
}

/// 64-bit fields as decimal strings in JSON: parsers that hold numbers as
/// doubles would round them.
func vmclockLine(_ reading: VMClock.Reading) -> String {
    if json {
        return "{\"vm_generation_counter\":\"\(reading.vmGenerationCounter)\",\"counter_present\":\(reading.counterPresent),"
            + "\"disruption_marker\":\"\(reading.disruptionMarker)\",\"flags\":\(reading.flags),\"sequence\":\(reading.sequence),"
            + "\"uid\":\(getuid())}"
    }
    return "vm_generation_counter \(reading.vmGenerationCounter) ("
        + (reading.counterPresent ? "maintained by the host" : "not maintained: the flag is clear")
        + "), disruption_marker \(reading.disruptionMarker), flags 0x\(String(reading.flags, radix: 16))"
}

switch command {
case "get":
    expectNoMoreArguments()
    let genid = open()
    print(generationLine(genid.current, genid))

case "watch":
    expectNoMoreArguments()
    let genid = open()
    if !json { print("generation \(genid.current) (\(genid.provider)); waiting for changes") }
    fflush(nil)
    // The library's async sequence: each new generation once, acknowledged after printing.
    for await generation in genid.generations() {
        print(generationLine(generation, genid))
        fflush(nil)
        do { try genid.acknowledge(generation) } catch where error.errno == .EINVAL { continue } catch { finish(error) }
    }

case "wait-watchers":
    let timeoutText = option("--timeout") ?? "0"
    guard let timeout = UInt32(timeoutText) else { fail("--timeout takes milliseconds", status: 64) }
    expectNoMoreArguments()
    let genid = open()
    let start = monotonicMilliseconds()
    do {
        try genid.waitForWatchers(timeoutMilliseconds: timeout)
    } catch {
        finish(error)
    }
    let elapsed = monotonicMilliseconds() - start
    print(json ? "{\"generation\":\(genid.current),\"elapsed_ms\":\(elapsed)}"
               : "every tracked watcher acknowledged generation \(genid.current) (\(elapsed) ms)")

case "trigger":
    let minimumText = option("--min") ?? "0"
    guard let minimum = UInt32(minimumText) else { fail("--min takes a number from 0 to 4294967295", status: 64) }
    expectNoMoreArguments()
    let genid = open()
    let before = genid.current
    do {
        let after = try genid.trigger(minimum: minimum)
        try? genid.acknowledge(after)
        print(json ? "{\"before\":\(before),\"generation\":\(after)}" : "generation \(before) -> \(after)")
    } catch {
        finish(error)
    }

case "exec":
    let track = !flag("--no-track")
    guard let separator = rest.firstIndex(of: "--"), separator + 1 < rest.count else {
        fail("exec needs a command after --, e.g. sysgenidctl exec -- /usr/local/bin/reseed", status: 64)
    }
    let commandLine = Array(rest[(separator + 1)...])
    rest.removeSubrange(separator...)
    expectNoMoreArguments()
    let genid = open()
    if track {
        do { try genid.setTracking(true) } catch { finish(error) }
    }
    while true {
        let generation: UInt32
        do {
            guard let next = try genid.next() else { continue }
            generation = next
        } catch {
            if error.errno == .EINTR { continue }
            finish(error)
        }
        setenv("SYSGENID_GENERATION", String(generation), 1)
        let status = spawnAndWait(commandLine[0].contains("/") ? commandLine : ["/usr/bin/env"] + commandLine)
        var acknowledged = false
        if status == 0 {
            do {
                try genid.acknowledge(generation)
                acknowledged = true
            } catch where error.errno == .EINVAL {
                // A newer generation arrived while CMD ran: run it again for that one.
            } catch {
                finish(error)
            }
        } else {
            // Not acknowledged: run it again after a pause (the generation stays outdated).
            sleepMilliseconds(1000)
        }
        if json {
            print("{\"generation\":\(generation),\"status\":\(status),\"acknowledged\":\(acknowledged)}")
        } else {
            print("generation \(generation): \(commandLine.joined(separator: " ")) exited \(status)"
                  + (acknowledged ? ", acknowledged" : ", not acknowledged"))
        }
        fflush(nil)
    }

case "vmclock":
    let follow = flag("--follow")
    let intervalText = option("--interval") ?? "10"
    let device = option("--device") ?? VMClock.defaultPath
    guard let interval = UInt32(intervalText), interval > 0 else {
        fail("--interval takes milliseconds (1 or more)", status: 64)
    }
    expectNoMoreArguments()
    let clock: VMClock
    do { clock = try VMClock(path: device) } catch { finish(error) }
    var last = clock.read()
    print(vmclockLine(last))
    fflush(nil)
    while follow {
        sleepMilliseconds(Int(interval))
        let reading = clock.read()
        if reading.vmGenerationCounter != last.vmGenerationCounter || reading.disruptionMarker != last.disruptionMarker
            || reading.flags != last.flags {
            print(vmclockLine(reading))
            fflush(nil)
            last = reading
        }
    }

case "prng-example":
    let reseed = flag("--reseed")
    guard rest.count == 1, let directory = rest.first, !directory.hasPrefix("-") else {
        fail("prng-example takes DIRECTORY [--reseed]\n\n\(usage)", status: 64)
    }
    PRNGExample(directory: directory, sysgenid: reseed ? open() : nil).serve()

case "conformance":
    let fresh = flag("--fresh")
    let format = option("--format") ?? (json ? "json" : "text")
    let scaleText = option("--scale") ?? "1"
    guard ["text", "lines", "json"].contains(format), let scale = Double(scaleText) else {
        fail("--format takes text, lines or json; --scale a number", status: 64)
    }
    expectNoMoreArguments()
    let suite: ConformanceSuite
    do {
        let resolved = try providerChoice.resolved()
        suite = try ConformanceSuite(provider: resolved, childCommand: ["/proc/self/exe", "conformance-child"])
    } catch {
        finish(error)
    }
    // /proc/self/exe in the child's argv[0] would name the child itself: resolve it now.
    var buffer = [CChar](repeating: 0, count: 4096)
    let length = readlink("/proc/self/exe", &buffer, buffer.count - 1)
    if length > 0 {
        suite.childCommand = [String(decoding: buffer[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self), "conformance-child"]
    }
    suite.fresh = fresh
    suite.stressScale = scale
    if format == "text" {
        suite.progress = { section in print("== \(section)"); fflush(nil) }
    }
    let start = monotonicMilliseconds()
    let checks = suite.run()
    let elapsed = monotonicMilliseconds() - start
    let failed = checks.filter { !$0.passed }
    switch format {
    case "lines":
        for check in checks {
            print("\(check.passed ? "PASS" : "FAIL")\t\(check.section)\t\(check.name)\t\(check.detail)")
        }
    case "json":
        let items = checks.map { check in
            "{\"section\":\(jsonString(check.section)),\"name\":\(jsonString(check.name)),\"passed\":\(check.passed),\"detail\":\(jsonString(check.detail))}"
        }
        print("{\"provider\":\(jsonString(suite.kind.reportName)),\"total\":\(checks.count),\"passed\":\(checks.count - failed.count),"
              + "\"failed\":\(failed.count),\"elapsed_ms\":\(elapsed),\"checks\":[\(items.joined(separator: ","))]}")
    default:
        for check in failed {
            print("FAIL \(check.section): \(check.name)" + (check.detail.isEmpty ? "" : " (\(check.detail))"))
        }
        print("\(checks.count - failed.count) passed, \(failed.count) failed (\(suite.kind.reportName), \(elapsed) ms)")
    }
    exit(failed.isEmpty ? 0 : 1)

case nil:
    print(usage, terminator: "")
    exit(64)

default:
    fail("unknown command '\(command!)'\n\n\(usage)", status: 64)
}
