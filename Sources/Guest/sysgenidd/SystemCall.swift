#if canImport(Glibc)
import Glibc
#endif
import VMGenID

/// A failed system call, named with its errno so the console log says why.
struct SystemCallError: Error, CustomStringConvertible {
    let call: String
    let path: String
    let code: Int32

    init(_ call: String, _ path: String, code: Int32 = errno) {
        self.call = call
        self.path = path
        self.code = code
    }

    var description: String {
        "\(call) \(path): \(String(cString: strerror(code))) (errno \(code))"
    }
}

/// Reads a whole (small) file such as a sysfs attribute or an ACPI table.
func readWholeFile(_ path: String, limit: Int = 1 << 20) throws -> [UInt8] {
    do {
        return try WholeFile.read(path, limit: limit)
    } catch .call(let call, _, let code) {
        throw SystemCallError(call, path, code: code)
    }
}

/// Names in a directory, without "." and "..".
func directoryEntries(_ path: String) throws -> [String] {
    guard let directory = opendir(path) else { throw SystemCallError("opendir", path) }
    defer { closedir(directory) }
    var names: [String] = []
    while let entry = readdir(directory) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
            String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
        }
        if name != "." && name != ".." { names.append(name) }
    }
    return names.sorted()
}

func log(_ message: String) {
    let line = "sysgenidd: \(message)\n"
    _ = line.withCString { write(STDERR_FILENO, $0, strlen($0)) }
}
