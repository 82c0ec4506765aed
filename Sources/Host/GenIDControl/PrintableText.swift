/// Text that came from a guest, a peer or a ledger, made safe to print: a
/// control character (C0, DEL, C1: terminal escapes, carriage returns that
/// overwrite a line, newlines that forge a log line), a format character
/// (bidirectional overrides that make a line read otherwise than it is) and
/// a line or paragraph separator become a visible escape (`\n`, `\t`, `\r`,
/// `\u{1B}`, `\u{202E}`), and a backslash is doubled so that no escape is
/// ambiguous. Everything else stays as it is.
public enum PrintableText {
    public static func escaped(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: { isUnsafe($0) || $0 == "\\" }) else { return text }
        var result = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\n": result += "\\n"
            case "\t": result += "\\t"
            case "\r": result += "\\r"
            case "\\": result += "\\\\"
            case _ where isUnsafe(scalar): result += "\\u{\(String(scalar.value, radix: 16, uppercase: true))}"
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result
    }

    /// Control (Cc), format (Cf), line (Zl) and paragraph (Zp) separators.
    public static func isUnsafe(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .control, .format, .lineSeparator, .paragraphSeparator: true
        default: false
        }
    }
}
