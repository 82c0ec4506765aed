import ArgumentParser
import Foundation
import GenIDControl

/// Writes `text` to stderr; returns the exit code to throw.
func failure(_ text: String, code: Int32) -> ExitCode {
    FileHandle.standardError.write(Data((PrintableText.escaped(text) + "\n").utf8))
    return ExitCode(code)
}

/// One line of output: what a guest, libvirt or the ledger put in it
/// cannot move the cursor, forge a line or drive the terminal.
func printLine(_ text: String) {
    print(PrintableText.escaped(text))
}
