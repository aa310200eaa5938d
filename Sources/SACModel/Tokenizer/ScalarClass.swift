/// Character classes used by the pre-tokenizer regexes, as bit flags over one Unicode scalar:
/// `\p{L}` (letter), `\p{N}` (number), `\s` (White_Space) and `[\r\n]` (newline).
/// A scalar with no flag is "other" (`[^\s\p{L}\p{N}]`).
enum ScalarClass {
    static let letter: UInt8 = 1
    static let number: UInt8 = 2
    static let space: UInt8 = 4
    static let newline: UInt8 = 8

    /// Classes of ASCII scalars, precomputed.
    static let ascii: [UInt8] = (0..<128).map { compute(UInt32($0)) }

    /// The class flags of scalar value `v`.
    @inline(__always)
    static func of(_ v: UInt32) -> UInt8 {
        v < 128 ? ascii[Int(v)] : compute(v)
    }

    static func compute(_ v: UInt32) -> UInt8 {
        guard let scalar = Unicode.Scalar(v) else { return 0 }
        let p = scalar.properties
        var c: UInt8 = 0
        switch p.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter:
            c |= letter
        case .decimalNumber, .letterNumber, .otherNumber:
            c |= number
        default:
            break
        }
        if p.isWhitespace { c |= space }
        if v == 0x0A || v == 0x0D { c |= newline }
        return c
    }
}
