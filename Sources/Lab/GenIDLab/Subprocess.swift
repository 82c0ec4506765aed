import Foundation

/// Runs short helper commands (ldd, xz, qemu-img) to completion.
enum Subprocess {
    struct Output {
        let status: Int32
        let outputData: Data
        let standardError: String
        var standardOutput: String { String(decoding: outputData, as: UTF8.self) }
    }

    /// Runs `argv` (the first element looked up on PATH) and collects its
    /// output; throws only when it cannot start.
    static func run(_ argv: [String]) throws -> Output {
        guard let executable = findExecutable(argv[0]) else {
            throw LabError.missingTool(name: argv[0], package: packageProviding(argv[0]))
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = Array(argv.dropFirst())
        let stdout = Pipe(), stderr = Pipe()
        process.standardOutput = stdout
        process.standardError = stderr
        process.standardInput = FileHandle.nullDevice
        try process.run()
        // Drain stderr on another thread while reading stdout here, so a
        // chatty command cannot fill one pipe and block.
        let errorBox = DataBox()
        let drained = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            errorBox.data = stderr.fileHandleForReading.readDataToEndOfFile()
            drained.signal()
        }
        let outputData = stdout.fileHandleForReading.readDataToEndOfFile()
        drained.wait()
        let errorData = errorBox.data
        process.waitUntilExit()
        return Output(status: process.terminationStatus,
                      outputData: outputData,
                      standardError: String(decoding: errorData, as: UTF8.self))
    }

    /// Like `run`, but a non-zero exit is an error.
    @discardableResult
    static func check(_ argv: [String]) throws -> String {
        try checkData(argv).stringValue
    }

    static func checkData(_ argv: [String]) throws -> Data {
        let output = try run(argv)
        guard output.status == 0 else {
            throw LabError.commandFailed(command: argv.joined(separator: " "), status: output.status,
                                         output: output.standardError + output.standardOutput)
        }
        return output.outputData
    }

    private final class DataBox: @unchecked Sendable {
        var data = Data()  // written once by the reader, read after the semaphore
    }

    static func findExecutable(_ name: String) -> String? {
        if name.contains("/") { return FileManager.default.isExecutableFile(atPath: name) ? name : nil }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"
        let directories: [String] = path.split(separator: ":").map(String.init) + ["/usr/sbin", "/sbin"]
        for directory in directories {
            let candidate = "\(directory)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    static func packageProviding(_ tool: String) -> String {
        switch tool {
        case "qemu-system-x86_64": return "qemu-system-x86"
        case "qemu-img": return "qemu-utils"
        case "busybox": return "busybox-static"
        case "xz": return "xz-utils"
        case "zstd": return "zstd"
        case "setpriv": return "util-linux"
        default: return tool
        }
    }
}

extension Data {
    var stringValue: String { String(decoding: self, as: UTF8.self) }
}
