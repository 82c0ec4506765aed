import VMGenID

/// Why a store operation failed, worded so that a person can act on it.
public enum StoreError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The value is already recorded (for `owner`). Giving it again would
    /// break the one guarantee of a generation ID.
    case valueAlreadyRecorded(GenerationRecord)
    /// A required field is empty, or an argument is out of range.
    case invalidArgument(String)
    /// `move` of a value the store does not hold for that VM.
    case notRecorded(GenerationID, vm: String)
    /// `issueFresh` drew only values the store already had.
    case noFreshValue(vm: String, attempts: Int)
    /// The store could not be reached or refused the operation; `message`
    /// names the store, what was being done and what to do about it.
    case unavailable(String)

    public var description: String {
        switch self {
        case .valueAlreadyRecorded(let owner):
            return "generation ID \(owner.value) was already given to VM '\(owner.vm.name)' (event: \(owner.event)) "
                + "and must never be given twice; give the VM a fresh random value instead"
        case .invalidArgument(let reason):
            return "invalid ledger argument: \(reason)"
        case let .notRecorded(value, vm):
            return "generation ID \(value) is not recorded for VM '\(vm)', so it cannot move with it; "
                + "record it first (genidd does at the VM's first event)"
        case let .noFreshValue(vm, attempts):
            return "no new generation ID for VM '\(vm)': all \(attempts) generated values were already "
                + "in the ledger; the value generator is repeating itself (check the random source)"
        case .unavailable(let message):
            return message
        }
    }
}
