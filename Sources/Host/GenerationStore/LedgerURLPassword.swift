/// The password a ledger URL may carry in its user part
/// (`postgres://USER:PASSWORD@HOST/...`): found and hidden by plain text
/// search, so that even a URL no parser accepts is shown without it.
public enum LedgerURLPassword {
    /// Whether `location` is a URL with a password in it.
    public static func isPresent(in location: String) -> Bool {
        passwordRange(in: location) != nil
    }

    /// `location` with its password (if any) replaced by `***`: the only
    /// form of a ledger location that messages, logs and `--check-config` show.
    public static func redacting(_ location: String) -> String {
        guard let range = passwordRange(in: location) else { return location }
        return location.replacingCharacters(in: range, with: "***")
    }

    /// From after the first `:` of the user part up to its last `@`. The
    /// user part ends at the last `@` before the query, not at the first
    /// `/`: a password someone forgot to percent-encode may hold a `/`.
    private static func passwordRange(in location: String) -> Range<String.Index>? {
        guard let scheme = location.range(of: "://") else { return nil }
        let rest = location[scheme.upperBound...]
        let beforeQuery = rest[..<(rest.firstIndex(of: "?") ?? rest.endIndex)]
        guard let at = beforeQuery.lastIndex(of: "@"),
              let colon = beforeQuery[..<at].firstIndex(of: ":") else { return nil }
        return location.index(after: colon)..<at
    }
}
