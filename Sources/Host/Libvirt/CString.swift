import CLibvirt
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A string libvirt allocated for the caller: copied, then freed.
func takeCString(_ pointer: UnsafeMutablePointer<CChar>?, _ operation: String) throws(LibvirtError) -> String {
    guard let pointer else { throw LibvirtError.last(operation) }
    defer { free(pointer) }
    return String(cString: pointer)
}

/// Escapes text for an XML element body or attribute value.
public func xmlEscaped(_ text: String) -> String {
    var result = ""
    for character in text {
        switch character {
        case "&": result += "&amp;"
        case "<": result += "&lt;"
        case ">": result += "&gt;"
        case "\"": result += "&quot;"
        case "'": result += "&apos;"
        default: result.append(character)
        }
    }
    return result
}
