/// libvirt's status file of a running domain (/run/libvirt/qemu/NAME.xml,
/// root's, written by libvirtd): what genidd reads of it.
enum LibvirtStatusFile {
    /// `<libDir path='…'/>`: the domain's private directory.
    static func libDirectory(in status: String) -> String? {
        guard let element = status.range(of: "<libDir path=") else { return nil }
        let rest = status[element.upperBound...]
        guard let quote = rest.first, quote == "'" || quote == "\"",
              let end = rest.dropFirst().firstIndex(of: quote) else { return nil }
        let path = String(rest[rest.index(after: rest.startIndex)..<end])
        // libvirt escapes XML in attributes; a plain absolute path needs none.
        guard path.hasPrefix("/"), !path.contains("&"), !path.contains("..") else { return nil }
        return path
    }
}
