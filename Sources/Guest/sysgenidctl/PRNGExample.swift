#if canImport(Glibc)
import Glibc
#endif
import SysGenID

/// `sysgenidctl prng-example DIRECTORY [--reseed]`: a resident program with
/// a userspace random number generator, the kind of state a VM snapshot
/// duplicates. It seeds the generator once at start, then serves one
/// 64-bit number per request over a FIFO pair in DIRECTORY:
///
///     echo > DIRECTORY/request; cat DIRECTORY/reply
///
/// Restored twice from one snapshot, it hands both copies the same numbers.
/// With `--reseed` it asks the SysGenID library, before every answer,
/// whether the generation moved on since it last seeded (one read of the
/// mapped generation page, no system call), and reseeds from the kernel
/// first: the pattern genid asks of programs that keep randomness or
/// secrets. `genid-lab check` uses it to show the difference.
struct PRNGExample {
    let directory: String
    /// Nil: never reseed.
    let sysgenid: SysGenID?

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

    func serve() -> Never {
        let request = directory + "/request", reply = directory + "/reply"
        mkdir(directory, 0o755)
        for fifo in [request, reply] {
            unlink(fifo)
            guard mkfifo(fifo, 0o666) == 0 else { failErrno("mkfifo \(fifo)") }
        }
        var generator = Generator(state: kernelSeed())
        var seededAt = sysgenid?.current
        while true {
            // A request: a writer opens, writes anything, closes.
            let input = open(request, O_RDONLY | O_CLOEXEC)
            guard input >= 0 else { failErrno("open \(request)") }
            var buffer = [UInt8](repeating: 0, count: 256)
            while read(input, &buffer, buffer.count) > 0 {}
            close(input)

            if let sysgenid, sysgenid.current != seededAt {
                generator = Generator(state: kernelSeed())
                seededAt = sysgenid.current
            }
            let output = open(reply, O_WRONLY | O_CLOEXEC)
            guard output >= 0 else { failErrno("open \(reply)") }
            _ = (String(generator.next(), radix: 16) + "\n").withCString { write(output, $0, strlen($0)) }
            close(output)
        }
    }

    private func kernelSeed() -> UInt64 {
        var seed: UInt64 = 0
        let random = open("/dev/urandom", O_RDONLY | O_CLOEXEC)
        guard random >= 0, read(random, &seed, MemoryLayout<UInt64>.size) == MemoryLayout<UInt64>.size else {
            failErrno("/dev/urandom")
        }
        close(random)
        return seed
    }

    private func failErrno(_ what: String) -> Never {
        fail("\(what): \(String(cString: strerror(errno)))", status: 1)
    }
}
