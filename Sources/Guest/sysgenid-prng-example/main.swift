// sysgenid-prng-example: a resident program with a userspace random number
// generator, the kind of state a VM snapshot duplicates. It seeds the
// generator once at start, then serves one 64-bit number per request over a
// FIFO pair in DIRECTORY:
//
//     echo > DIRECTORY/request; cat DIRECTORY/reply
//
// Restored twice from one snapshot, it hands both copies the same numbers.
// With --reseed it asks the SysGenID library, before every answer, whether
// the VM generation moved on since it last seeded (one read of the mapped
// generation page, no system call), and reseeds from the kernel first:
// the pattern genid asks of programs that keep secrets or randomness.
import Glibc
import SysGenID

let usage = """
    usage: sysgenid-prng-example DIRECTORY [--reseed]
      Seeds a PRNG, creates DIRECTORY/request and DIRECTORY/reply (FIFOs) and
      answers each request with the next number. --reseed: reseed whenever the
      sysgenid generation changed (through /dev/sysgenid or sysgenidd).
    """

func printError(_ text: String) {
    _ = text.withCString { write(STDERR_FILENO, $0, strlen($0)) }
}

func fail(_ message: String) -> Never {
    printError("sysgenid-prng-example: \(message)\n")
    exit(1)
}

let arguments = Array(CommandLine.arguments.dropFirst())
guard let directory = arguments.first, !directory.hasPrefix("-"),
      arguments.dropFirst().allSatisfy({ $0 == "--reseed" }) else {
    printError(usage + "\n")
    exit(64)
}
let reseedOnNewGeneration = arguments.contains("--reseed")

/// SplitMix64: small, and wholly determined by its state, as a snapshot sees it.
struct Generator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

func kernelSeed() -> UInt64 {
    var seed: UInt64 = 0
    let random = open("/dev/urandom", O_RDONLY)
    guard random >= 0, read(random, &seed, MemoryLayout<UInt64>.size) == MemoryLayout<UInt64>.size else {
        fail("/dev/urandom: \(String(cString: strerror(errno)))")
    }
    close(random)
    return seed
}

let sysgenid: SysGenID?
if reseedOnNewGeneration {
    do {
        sysgenid = try SysGenID()
    } catch {
        fail("cannot open sysgenid (\(error)); is the module loaded or sysgenidd running?")
    }
} else {
    sysgenid = nil
}

let request = directory + "/request", reply = directory + "/reply"
mkdir(directory, 0o755)
for fifo in [request, reply] {
    unlink(fifo)
    guard mkfifo(fifo, 0o666) == 0 else { fail("mkfifo \(fifo): \(String(cString: strerror(errno)))") }
}

var generator = Generator(state: kernelSeed())
var seededAt = sysgenid?.current
while true {
    // A request: a writer opens, writes anything, closes.
    let input = open(request, O_RDONLY)
    guard input >= 0 else { fail("open \(request): \(String(cString: strerror(errno)))") }
    var buffer = [UInt8](repeating: 0, count: 256)
    while read(input, &buffer, buffer.count) > 0 {}
    close(input)

    if let sysgenid, sysgenid.current != seededAt {
        generator = Generator(state: kernelSeed())
        seededAt = sysgenid.current
    }
    let line = String(generator.next(), radix: 16) + "\n"
    let output = open(reply, O_WRONLY)
    guard output >= 0 else { fail("open \(reply): \(String(cString: strerror(errno)))") }
    _ = line.withCString { write(output, $0, strlen($0)) }
    close(output)
}
