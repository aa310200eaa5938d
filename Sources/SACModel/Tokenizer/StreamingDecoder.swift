/// Incremental detokenizer for generation: feed ids one by one, get text back as soon as it forms
/// complete UTF-8 characters. The concatenation of all `append` results and `finish()` equals
/// `tokenizer.decode(ids, skipSpecialTokens:)` of the same ids (invalid bytes become U+FFFD).
public struct StreamingDecoder: Sendable {
    private let tokenizer: Tokenizer
    private let skipSpecialTokens: Bool
    /// Bytes of an incomplete UTF-8 sequence held back (at most 3).
    private var pending: [UInt8] = []

    /// - Parameters:
    ///   - tokenizer: the tokenizer whose tokens are decoded.
    ///   - skipSpecialTokens: drop special (control) tokens, as `decode(_:skipSpecialTokens:)`.
    public init(tokenizer: Tokenizer, skipSpecialTokens: Bool = false) {
        self.tokenizer = tokenizer
        self.skipSpecialTokens = skipSpecialTokens
    }

    /// Adds one token and returns the text completed by it (possibly empty).
    public mutating func append(_ id: Int32) -> String {
        if skipSpecialTokens && tokenizer.isSpecialToken(id) { return "" }
        pending.append(contentsOf: tokenizer.bytes(of: id))
        let cut = StreamingDecoder.completePrefix(pending)
        if cut == 0 { return "" }
        let text = String(decoding: pending[..<cut], as: UTF8.self)
        pending.removeFirst(cut)
        return text
    }

    /// Returns the text of any held-back bytes (as U+FFFD replacements) and resets the decoder.
    public mutating func finish() -> String {
        defer { pending.removeAll() }
        return String(decoding: pending, as: UTF8.self)
    }

    /// Length of the longest prefix of `b` after which a UTF-8 decoder is between characters and
    /// the rest is a valid but incomplete sequence (which later bytes may complete).
    static func completePrefix(_ b: [UInt8]) -> Int {
        var i = 0
        let n = b.count
        while i < n {
            let lead = b[i]
            var need: Int
            var lo: UInt8 = 0x80, hi: UInt8 = 0xBF
            switch lead {
            case 0x00...0x7F: i += 1; continue
            case 0xC2...0xDF: need = 1
            case 0xE0: need = 2; lo = 0xA0
            case 0xED: need = 2; hi = 0x9F
            case 0xE1...0xEF: need = 2
            case 0xF0: need = 3; lo = 0x90
            case 0xF4: need = 3; hi = 0x8F
            case 0xF1...0xF3: need = 3
            default: i += 1; continue  // invalid lead byte: one replacement
            }
            var k = 1
            while k <= need {
                if i + k >= n { return i }  // valid so far, incomplete: hold back from i
                let c = b[i + k]
                let ok = k == 1 ? (c >= lo && c <= hi) : (c >= 0x80 && c <= 0xBF)
                if !ok { break }
                k += 1
            }
            i += k  // complete character, or a maximal invalid subpart of length k
        }
        return n
    }
}
