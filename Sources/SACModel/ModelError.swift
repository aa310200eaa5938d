/// Errors from reading model files (GGUF, safetensors, config.json, tokenizer.json) and
/// from running a model. Every case names the file and the field, and what was expected,
/// so that a user can tell which input is bad without reading the code.
public enum ModelError: Error, CustomStringConvertible, Equatable {
    /// The file could not be opened or read.
    case unreadable(file: String, reason: String)
    /// The file could not be written (it is left as it was).
    case unwritable(file: String, reason: String)
    /// A field holds a value of the wrong kind or out of range.
    case invalidField(file: String, field: String, expected: String, found: String)
    /// A required field is absent.
    case missingField(file: String, field: String)
    /// The file ends before a structure it declares.
    case truncated(file: String, field: String, needed: Int, available: Int)
    /// A format feature this project does not implement (for example a quantisation type).
    case unsupported(file: String, field: String, what: String)

    public var description: String {
        switch self {
        case .unreadable(let file, let reason):
            return "\(file): cannot read: \(reason)"
        case .unwritable(let file, let reason):
            return "\(file): cannot write: \(reason)"
        case .invalidField(let file, let field, let expected, let found):
            return "\(file): field '\(field)': expected \(expected), found \(found)"
        case .missingField(let file, let field):
            return "\(file): missing field '\(field)'"
        case .truncated(let file, let field, let needed, let available):
            return "\(file): truncated at '\(field)': needs \(needed) bytes, \(available) available"
        case .unsupported(let file, let field, let what):
            return "\(file): field '\(field)': unsupported \(what)"
        }
    }
}
