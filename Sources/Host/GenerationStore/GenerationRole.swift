/// Where a recorded value lives. A running guest and the definition its
/// next start uses can hold different values, and each needs its own
/// "latest": a live value equal to the latest persistent one is a boot, not
/// a rewind.
public enum GenerationRole: String, Sendable, Hashable, Codable, CaseIterable {
    /// A value a running guest had in its VMGENID page.
    case live
    /// A value written into (or found in) a definition that a later start uses.
    case persistent
}
