import Foundation

/// Which module files a guest needs, in load order, for one kernel release.
///
/// Debian builds some drivers in (virtio on 6.12) and others as modules
/// (virtio on 6.1); modules.builtin and modules.dep tell which.
public struct KernelModules: Sendable {
    let builtin: Set<String>
    /// Module name -> (relative path, dependencies as relative paths).
    let dependencies: [String: (path: String, needs: [String])]

    public init(modulesBuiltin: String, modulesDep: String) {
        builtin = Set(modulesBuiltin.split(separator: "\n").map { KernelModules.name(ofPath: String($0)) })
        var dependencies: [String: (path: String, needs: [String])] = [:]
        for line in modulesDep.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let path = String(line[..<colon])
            let needs = line[line.index(after: colon)...].split(separator: " ").map(String.init)
            dependencies[KernelModules.name(ofPath: path)] = (path, needs)
        }
        self.dependencies = dependencies
    }

    public init(kernel: GuestKernel) throws {
        func read(_ name: String) throws -> String {
            let path = "\(kernel.modulesDirectory)/\(name)"
            do { return try String(contentsOfFile: path, encoding: .utf8) } catch {
                throw LabError.io(path: path, message: "cannot read (\(error.localizedDescription)); is the kernel package complete?")
            }
        }
        self.init(modulesBuiltin: try read("modules.builtin"), modulesDep: try read("modules.dep"))
    }

    /// Relative paths of the module files to load, dependencies first, each
    /// once; built-in drivers need nothing.
    /// Whether the kernel has the driver, built in or as a module.
    public func has(_ name: String) -> Bool {
        let name = KernelModules.canonical(name)
        return builtin.contains(name) || dependencies[name] != nil
    }

    public func loadOrder(for names: [String], release: String) throws -> [String] {
        var order: [String] = []
        func visit(_ name: String) throws {
            let name = KernelModules.canonical(name)
            if builtin.contains(name) { return }
            guard let entry = dependencies[name] else { throw LabError.moduleNotFound(name: name, release: release) }
            if order.contains(entry.path) { return }
            // modules.dep lists every dependency, indirect ones too; the
            // last one listed must be loaded first.
            for dependency in entry.needs.reversed() { try visit(KernelModules.name(ofPath: dependency)) }
            order.append(entry.path)
        }
        for name in names { try visit(name) }
        return order
    }

    /// "kernel/drivers/virtio/virtio_pci.ko.xz" -> "virtio_pci".
    static func name(ofPath path: String) -> String {
        var base = Substring(path.split(separator: "/").last ?? Substring(path))
        for suffix in [".xz", ".zst", ".gz"] where base.hasSuffix(suffix) { base = base.dropLast(suffix.count) }
        if base.hasSuffix(".ko") { base = base.dropLast(3) }
        return canonical(String(base))
    }

    /// Module names treat "-" and "_" alike.
    static func canonical(_ name: String) -> String { name.replacingOccurrences(of: "-", with: "_") }
}
