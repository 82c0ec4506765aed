// libFuzzer target for the fleet ledger's URL (Sources/Host/PostgresGenerationStore/PostgresURL.swift)
// and its redaction (Sources/Host/GenerationStore/LedgerURLPassword.swift).
//
// Built by Fuzz/run with those two files (Foundation only): PostgresURL is all
// of PostgresLocation that the text reaches; the rest reads files and sets up
// TLS. Byte 0 of the input: bit 0 clear, the rest is the URL's text; set, the
// rest is cut at 0x00 bytes into user, password, host, port, database and
// query, and the harness writes the URL: bit 1, user, password and database
// percent-encoded (else as they are); bit 2, with no password.
//
// Invariants (a violation traps, so libFuzzer reports a crash):
//   - parsing never traps; a refusal is a `PostgresURL.Refusal`;
//   - an accepted URL names a user and a database, a port from 1 to 65535,
//     a socket path under an absolute directory, at most one password source,
//     a credential name without "/";
//   - each part is percent-decoded exactly once: what the harness encoded
//     comes back as it was (when host and port hold no delimiter);
//   - the password, as written and as decoded, appears neither in the
//     redacted text nor in what a refusal quotes of the URL, whenever
//     it is long enough (4 bytes), written nowhere else in the URL, the user
//     name before it holds no delimiter, and, written unencoded, it has no
//     "/" after an "@" (it could be told apart from nothing else);
//     an accepted URL's password is always hidden.
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzLedgerURL(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = Array(UnsafeBufferPointer(start: size > 0 ? data : nil, count: size))
    guard let flags = input.first else { return 0 }
    let rest = input.dropFirst()
    if flags & 1 == 0 {
        check(String(decoding: rest, as: UTF8.self), written: nil)
        return 0
    }
    var parts = rest.split(separator: 0, maxSplits: 5, omittingEmptySubsequences: false)
        .map { String(decoding: $0, as: UTF8.self) }
    parts += Array(repeating: "", count: 6 - parts.count)
    let (user, password, host, port, database, query) = (parts[0], parts[1], parts[2], parts[3], parts[4], parts[5])
    let encode = flags & 2 != 0
    let withPassword = flags & 4 == 0
    func written(_ text: String) -> String { encode ? percentEncoded(text) : text }
    let text = "postgres://" + written(user) + (withPassword ? ":" + written(password) : "") + "@" + host
        + (port.isEmpty ? "" : ":" + port) + "/" + written(database) + (query.isEmpty ? "" : "?" + query)
    // A password may be written unencoded (what redaction must survive); a
    // user name with a delimiter in it leaves nothing to tell it apart by.
    // Nor can a password with an "@" and later a "/" (see LedgerURLPassword).
    let userDelimited = !encode && user.unicodeScalars.contains { "@:/?#".unicodeScalars.contains($0) }
    let ambiguous = !encode && password.unicodeScalars.drop { $0 != "@" }.contains("/")
    let url = check(text, written: withPassword && !userDelimited && !ambiguous
                    ? (raw: written(password), decoded: password) : nil)
    // Host and port go in as they are: only with no delimiter in them do the
    // other parts stay where the harness put them.
    let delimited = (host + port).unicodeScalars.contains { "/?#@".unicodeScalars.contains($0) }
    if encode, !delimited, let url {
        require(url.user == user, "user \(user.debugDescription) came back as \(url.user.debugDescription)")
        require(url.database == database, "database \(database.debugDescription) came back as \(url.database.debugDescription)")
        if withPassword {
            require(url.password == .url(password), "password \(password.debugDescription) came back as \(String(describing: url.password))")
        }
    }
    return 0
}

/// Parses `text` as PostgresLocation does and checks what comes out;
/// `written` is the password the harness put in, as written and decoded.
@discardableResult
private func check(_ text: String, written: (raw: String, decoded: String)?) -> PostgresURL? {
    let shown = LedgerURLPassword.redacting(text)
    let url: PostgresURL
    do {
        url = try PostgresURL(text)
    } catch {
        // PostgresLocation says "'SHOWN' REASON"; a reason quotes at most
        // one piece of the URL in '...' (the rest is fixed wording, in
        // which a short password may well occur).
        let pieces = error.reason.split(separator: "'", omittingEmptySubsequences: false)
        if let written { requireHidden(written, in: text, from: [shown] + (pieces.count == 3 ? [String(pieces[1])] : [])) }
        return nil
    }
    requireAccepted(url)
    if let written { requireHidden(written, in: text, from: [shown]) }
    // The password the URL gives, as written there (when the parser did not
    // have to encode anything, its ranges are the text's) and decoded.
    if case .url(let password) = url.password, let components = URLComponents(string: text), components.string == text,
       let raw = components.percentEncodedPassword {
        requireHidden((raw, password), in: text, from: [shown])
    }
    return url
}

/// Neither form of the password shows in `messages`, when it is long enough
/// to mean something and can be told apart: written in `text` only where
/// the password goes, and once in the text decoded (a refusal may quote
/// another part decoded; a text that does not decode cannot be told).
private func requireHidden(_ password: (raw: String, decoded: String), in text: String, from messages: [String]) {
    guard let decodedText = text.removingPercentEncoding else { return }
    let secrets = [password.raw] + (password.decoded == password.raw ? [] : [password.decoded])
    for secret in secrets where secret.utf8.count >= 4 && occurrences(of: secret, in: decodedText) <= 1
        && occurrences(of: secret, in: text) == (secret == password.raw ? 1 : 0) {
        for message in messages {
            require(occurrences(of: secret, in: message) == 0, "password \(secret.debugDescription) shown: \(message.debugDescription)")
        }
    }
}

private func requireAccepted(_ url: PostgresURL) {
    require(!url.user.isEmpty && !url.database.isEmpty, "no user or database")
    switch url.endpoint {
    case .unixSocket(let path):
        require(path.hasPrefix("/"), "socket path \(path.debugDescription)")
    case let .tcp(address, port, serverName):
        require((1...65535).contains(port), "port \(port)")
        require(!address.isEmpty && serverName?.isEmpty != true, "empty address or server name")
    }
    if case .credential(let name) = url.password {
        require(!name.isEmpty && !name.contains("/"), "credential name \(name.debugDescription)")
    }
    require(SSLMode.allCases.contains(url.sslMode), "sslmode")
    require((url.certificate == nil) == (url.key == nil), "sslcert without sslkey")
}

/// Literal occurrences, scalar by scalar (String.contains would match by Character).
private func occurrences(of needle: String, in text: String) -> Int {
    let needle = Array(needle.unicodeScalars), scalars = Array(text.unicodeScalars)
    guard !needle.isEmpty, needle.count <= scalars.count else { return 0 }
    return (0...(scalars.count - needle.count)).count { scalars[$0..<$0 + needle.count].elementsEqual(needle) }
}

/// Every byte outside RFC 3986's unreserved set as %XX.
private func percentEncoded(_ text: String) -> String {
    var out = ""
    for byte in text.utf8 {
        if (0x30...0x39).contains(byte) || (0x41...0x5a).contains(byte) || (0x61...0x7a).contains(byte)
            || "-._~".utf8.contains(byte) {
            out.unicodeScalars.append(UnicodeScalar(byte))
        } else {
            out += String(format: "%%%02X", byte)
        }
    }
    return out
}

private func require(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String) {
    guard condition() else {
        FileHandle.standardError.write(Data("ledger-url invariant violated: \(message())\n".utf8))
        abort()
    }
}
