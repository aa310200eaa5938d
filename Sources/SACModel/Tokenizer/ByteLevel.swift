/// GPT-2's byte-level alphabet: every byte 0...255 is shown as one printable Unicode scalar, so
/// that a byte string becomes a text string without spaces or control characters (space → "Ġ",
/// newline → "Ċ"). Vocabulary entries of byte-level BPE tokenizers are written in this alphabet.
enum ByteLevel {
    /// `scalarForByte[b]` is the Unicode scalar value that stands for byte `b`.
    static let scalarForByte: [UInt32] = {
        var table = [UInt32](repeating: 0, count: 256)
        var extra: UInt32 = 0
        for b in 0..<256 {
            let printable = (0x21...0x7E).contains(b) || (0xA1...0xAC).contains(b) || (0xAE...0xFF).contains(b)
            if printable {
                table[b] = UInt32(b)
            } else {
                table[b] = 256 + extra
                extra += 1
            }
        }
        return table
    }()

    /// Inverse of `scalarForByte`: Unicode scalar value → byte, for decoding.
    static let byteForScalar: [UInt32: UInt8] = {
        var map = [UInt32: UInt8]()
        for (b, s) in scalarForByte.enumerated() { map[s] = UInt8(b) }
        return map
    }()

    /// The byte-level string of one byte (for looking up single-byte tokens in a vocabulary).
    static func string(forByte b: UInt8) -> String {
        String(Character(Unicode.Scalar(scalarForByte[Int(b)])!))
    }

    /// The byte-level spelling of raw bytes.
    static func encode<S: Sequence>(_ bytes: S) -> String where S.Element == UInt8 {
        var s = String.UnicodeScalarView()
        for b in bytes { s.append(Unicode.Scalar(scalarForByte[Int(b)])!) }
        return String(s)
    }

    /// The bytes a token string stands for, as Hugging Face's ByteLevel decoder computes them:
    /// every scalar mapped back to its byte, or, when any scalar is outside the alphabet, the
    /// token's own UTF-8 bytes (this is how added tokens such as "<|im_end|>" decode).
    static func decode(_ token: String) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(token.unicodeScalars.count)
        for s in token.unicodeScalars {
            guard let b = byteForScalar[s.value] else { return Array(token.utf8) }
            out.append(b)
        }
        return out
    }
}
