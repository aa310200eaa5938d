/// Why training cannot start or continue. Settings are named by their `TrainerConfig`
/// fields (the command line maps them to its flags); files by their paths.
public enum TrainingError: Error, CustomStringConvertible, Equatable {
    /// A setting that cannot work: the `TrainerConfig` field and what is wrong with its value.
    case invalidSetting(field: String, detail: String)
    /// The method has nothing to train (`tokens`).
    case nothingToTrain(method: String)
    /// A checkpoint or trainer-state file that is missing or unreadable.
    case invalidCheckpoint(file: String, detail: String)
    /// A checkpoint or teacher that does not belong to this run: what differs, as the run has
    /// it and as the file has it.
    case mismatch(file: String, field: String, expected: String, found: String)

    public var description: String {
        switch self {
        case let .invalidSetting(field, detail): return "invalid training setting \(field): \(detail)"
        case let .nothingToTrain(method): return "method \(method) is training-free: nothing to train"
        case let .invalidCheckpoint(file, detail): return "\(file): \(detail)"
        case let .mismatch(file, field, expected, found):
            return "\(file): \(field) differs: this run has \(expected), the file has \(found)"
        }
    }
}
