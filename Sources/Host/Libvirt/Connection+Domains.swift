import CLibvirt
import Foundation

extension Connection {
    /// `virDomainLookupByName`; throws `.noDomain` if there is none.
    public func domain(named name: String) throws(LibvirtError) -> Domain {
        let operation = "looking up domain '\(name)' on \(uri)"
        return try withPointer(operation) { pointer throws(LibvirtError) in
            guard let domain = virDomainLookupByName(pointer.raw, name) else { throw LibvirtError.last(operation) }
            return Domain(pointer: domain)
        }
    }

    /// `virDomainLookupByUUIDString`; throws `.noDomain` if there is none.
    public func domain(uuid: String) throws(LibvirtError) -> Domain {
        let operation = "looking up domain with UUID \(uuid) on \(uri)"
        return try withPointer(operation) { pointer throws(LibvirtError) in
            guard let domain = virDomainLookupByUUIDString(pointer.raw, uuid) else {
                throw LibvirtError.last(operation)
            }
            return Domain(pointer: domain)
        }
    }

    public func domain(uuid: UUID) throws(LibvirtError) -> Domain {
        try domain(uuid: uuid.uuidString.lowercased())
    }

    /// `virConnectListAllDomains`: every domain, running or only defined
    /// (narrow it with `filter`), in libvirt's order.
    public func allDomains(_ filter: DomainListFilter = []) throws(LibvirtError) -> [Domain] {
        let operation = "listing the domains on \(uri)"
        return try withPointer(operation) { pointer throws(LibvirtError) in
            var list: UnsafeMutablePointer<virDomainPtr?>?
            let count = virConnectListAllDomains(pointer.raw, &list, filter.rawValue)
            guard count >= 0, let list else { throw LibvirtError.last(operation) }
            defer { free(list) }  // the array only; each Domain owns its element
            return (0..<Int(count)).compactMap { index in list[index].map(Domain.init(pointer:)) }
        }
    }

    /// `virDomainDefineXML`: defines (or, for an existing name and UUID,
    /// updates) a persistent domain. Emits DEFINED/ADDED or DEFINED/UPDATED.
    public func defineDomain(xml: String) throws(LibvirtError) -> Domain {
        let operation = "defining a domain from XML on \(uri)"
        return try withPointer(operation) { pointer throws(LibvirtError) in
            guard let domain = virDomainDefineXML(pointer.raw, xml) else { throw LibvirtError.last(operation) }
            return Domain(pointer: domain)
        }
    }

    /// `virDomainRestore`: starts a domain from a file made by `Domain.save(to:)`
    /// (STARTED/RESTORED; libvirt gives a `<genid>` domain a fresh value).
    public func restore(from path: String) throws(LibvirtError) {
        let operation = "restoring a domain from \(path) on \(uri)"
        try withPointer(operation) { pointer throws(LibvirtError) in
            if virDomainRestore(pointer.raw, path) < 0 { throw LibvirtError.last(operation) }
        }
    }
}

/// Filter flags of `virConnectListAllDomains` (empty: all domains).
public struct DomainListFilter: OptionSet, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let active = DomainListFilter(VIR_CONNECT_LIST_DOMAINS_ACTIVE)
    public static let inactive = DomainListFilter(VIR_CONNECT_LIST_DOMAINS_INACTIVE)
    public static let persistent = DomainListFilter(VIR_CONNECT_LIST_DOMAINS_PERSISTENT)
    public static let transient = DomainListFilter(VIR_CONNECT_LIST_DOMAINS_TRANSIENT)
    public static let hasSnapshot = DomainListFilter(VIR_CONNECT_LIST_DOMAINS_HAS_SNAPSHOT)

    init<C: RawRepresentable>(_ constant: C) where C.RawValue: BinaryInteger {
        rawValue = UInt32(truncatingIfNeeded: constant.rawValue)
    }
}
