import Foundation

/// A check's report as JUnit XML, the test report CI systems read: one
/// `<testsuite>` per run, one `<testcase>` per probe and mode. A probe
/// whose expectation failed is a `<failure>` naming the guests that
/// collided (or differed, or whose command failed); a run that stopped
/// before the probes could be judged makes every probe an `<error>`.
///
/// It carries every element and attribute the common JUnit schema (Ant's
/// format) requires: `testsuites`; `testsuite` with name, package, id,
/// timestamp, hostname, tests, failures, errors, time, `properties`,
/// `system-out` and `system-err`; `testcase` with name, classname, time;
/// `failure`/`error` with type and message.
public enum JUnitReport {
    public static func xml(for report: LabReport, probes: [GuestProbe], mode: String, seconds: Double,
                           timestamp: Date = Date(), hostname: String = ProcessInfo.processInfo.hostName) -> String {
        let verdicts = report.probes ?? []
        let failures = verdicts.filter { !$0.passed }.count
        let errors = report.error == nil ? 0 : probes.count
        let time = String(format: "%.3f", seconds)
        let suite = "genid-lab check (\(mode))"
        var lines = [
            #"<?xml version="1.0" encoding="UTF-8"?>"#,
            "<testsuites name=\"genid-lab check\" tests=\"\(probes.count)\" failures=\"\(failures)\" "
                + "errors=\"\(errors)\" time=\"\(time)\">",
            "  <testsuite name=\(attribute(suite)) package=\"genid-lab\" id=\"0\" "
                + "timestamp=\(attribute(isoTimestamp(timestamp))) hostname=\(attribute(hostname)) "
                + "tests=\"\(probes.count)\" failures=\"\(failures)\" errors=\"\(errors)\" skipped=\"0\" time=\"\(time)\">",
            "    <properties>",
            "      <property name=\"guest_kernel\" value=\(attribute(report.guestKernel ?? "unknown"))/>",
            "      <property name=\"mode\" value=\(attribute(mode))/>",
            "      <property name=\"accelerator\" value=\(attribute(report.accelerator ?? "unknown"))/>",
            "    </properties>",
        ]
        for probe in probes {
            let verdict = verdicts.first { $0.probe == probe.name }
            let caseTime = ((verdict.map { [$0.source] + $0.outputs } ?? []).compactMap(\.elapsedMs).reduce(0, +)) / 1000
            let opening = "    <testcase name=\(attribute("\(probe.name) [\(mode)]")) "
                + "classname=\(attribute("genid-lab.check.\(mode)")) time=\"\(String(format: "%.3f", caseTime))\""
            if let error = report.error {
                lines.append(opening + ">")
                lines.append("      <error type=\"check-stopped\" message=\(attribute(error))>\(text(error))</error>")
                lines.append("    </testcase>")
            } else if let verdict, !verdict.passed {
                lines.append(opening + ">")
                lines.append("      <failure type=\(attribute(failureType(verdict))) message=\(attribute(verdict.summary))>"
                             + text(outputsText(verdict)) + "</failure>")
                lines.append("    </testcase>")
            } else {
                lines.append(opening + "/>")
            }
        }
        lines.append("    <system-out>\(text(report.summary()))</system-out>")
        lines.append("    <system-err></system-err>")
        lines.append("  </testsuite>")
        lines.append("</testsuites>")
        return lines.joined(separator: "\n") + "\n"
    }

    static func failureType(_ verdict: ProbeVerdict) -> String {
        if !verdict.failed.isEmpty { return "probe-failed" }
        return verdict.expect == .distinct ? "collision" : "mismatch"
    }

    /// Every guest's output, one per line, for the failure's body.
    static func outputsText(_ verdict: ProbeVerdict) -> String {
        ([verdict.source] + verdict.outputs).map { output in
            "\(output.instance): " + (output.error.map { "FAILED (\($0))" }
                ?? (output.output ?? "").trimmingCharacters(in: .whitespacesAndNewlines))
        }.joined(separator: "\n")
    }

    /// The schema's timestamp: ISO 8601 without a time zone (UTC here).
    static func isoTimestamp(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyy-MM-dd'T'HH:mm:ss"
        return formatter.string(from: date)
    }

    /// A quoted attribute value.
    static func attribute(_ value: String) -> String {
        "\"" + text(value).replacingOccurrences(of: "\"", with: "&quot;").replacingOccurrences(of: "\n", with: "&#10;") + "\""
    }

    /// Character data: markup escaped, and characters XML 1.0 forbids
    /// (a probe may print raw bytes) replaced by U+FFFD.
    static func text(_ value: String) -> String {
        var escaped = ""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "&": escaped += "&amp;"
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "\t", "\n", "\r": escaped.unicodeScalars.append(scalar)
            default:
                let value = scalar.value
                let allowed = (0x20...0xD7FF).contains(value) || (0xE000...0xFFFD).contains(value) || value >= 0x10000
                escaped.unicodeScalars.append(allowed ? scalar : "\u{FFFD}")
            }
        }
        return escaped
    }
}
