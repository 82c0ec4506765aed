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
        let scalars = location.unicodeScalars
        var shown = String.UnicodeScalarView(scalars[..<range.lowerBound])
        shown.append(contentsOf: "***".unicodeScalars)
        shown.append(contentsOf: scalars[range.upperBound...])
        return String(shown)
    }

    /// From after the first `:` of the user part up to its last `@`: the
    /// last `@` before the first `/` that follows an `@` (where the database
    /// starts), since a password someone forgot to percent-encode may hold
    /// `/`, `?`, `#` and `@` (a `?` in it used to end the search early, and
    /// the password was shown). One with an `@` and, after it, a `/` reads
    /// as a user part that ends at that `@`: such a password must be
    /// percent-encoded to be hidden. Unicode scalars, as a URL parser reads them:
    /// "@" and a combining mark after it are one Character, which is not "@".
    private static func passwordRange(in location: String) -> Range<String.Index>? {
        let scalars = location.unicodeScalars
        guard let slashes = scalars.indices.first(where: { scalars[$0...].starts(with: "://".unicodeScalars) })
        else { return nil }
        let rest = scalars[scalars.index(slashes, offsetBy: 3)...]
        guard let firstAt = rest.firstIndex(of: "@") else { return nil }
        let path = rest[firstAt...].firstIndex(of: "/") ?? rest.endIndex
        guard let at = rest[..<path].lastIndex(of: "@"), let colon = rest[..<at].firstIndex(of: ":") else { return nil }
        return scalars.index(after: colon)..<at
    }
}
