/// Why a ledger operation failed, worded so that a person can act on it.
public enum LedgerError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The value is already in the ledger (for `ownerVM`, because of `event`).
    /// Giving it again would break the one guarantee of a generation ID.
    case valueAlreadyIssued(value: String, ownerVM: String, event: String)
    /// The text is not a generation ID in RFC 4122 form.
    case invalidValue(String)
    /// A required field (vm, event, kind, ...) is empty, or an argument is out of range.
    case invalidArgument(String)
    /// `issueFresh` got only already-known values from its generator.
    case noFreshValue(vm: String, attempts: Int)
    /// The ledger's directory is missing and could not be created.
    case cannotCreateDirectory(path: String, reason: String)
    /// SQLite failed; the message names the ledger file and the cause.
    case database(String)

    public var description: String {
        switch self {
        case let .valueAlreadyIssued(value, ownerVM, event):
            return "generation ID \(value) was already given to VM '\(ownerVM)' (event: \(event)) "
                + "and must never be given twice; give the VM a fresh random value instead"
        case let .invalidValue(text):
            return "'\(text)' is not a VM Generation ID: expected RFC 4122 text form, "
                + "8-4-4-4-12 hex digits (e.g. 5a67d7c6-9ab9-449b-a758-be75b197648d)"
        case let .invalidArgument(reason):
            return "invalid ledger argument: \(reason)"
        case let .noFreshValue(vm, attempts):
            return "no new generation ID for VM '\(vm)': all \(attempts) generated values were already "
                + "in the ledger; the value generator is repeating itself (check the random source)"
        case let .cannotCreateDirectory(path, reason):
            return "cannot create the ledger directory \(path): \(reason); "
                + "create it, or set GENID_LEDGER to a ledger file in a writable directory"
        case let .database(message):
            return message
        }
    }
}
