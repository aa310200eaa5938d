/// A canonical Huffman decoding table for DEFLATE, indexed by the next `bits` input bits.
///
/// DEFLATE packs codes starting from their most significant bit into the least significant
/// end of the bit stream, so the table is indexed by bit-reversed codes: every entry whose
/// low `length` bits equal the reversed code holds `symbol << 4 | length`; 0 marks bit
/// patterns that match no code.
struct HuffmanTable: Sendable {
    /// Number of input bits that index `entries` (the longest code length, at least 1).
    let bits: Int
    /// `1 << bits` entries of `symbol << 4 | length`, or 0.
    let entries: [UInt32]

    /// What the code lengths are used for, which decides whether an incomplete code is allowed.
    enum Kind { case codeLengths, literalLength, distance }

    /// Failure to build a table, with a reason for `GzipError.invalidHuffmanTable`.
    struct BuildError: Error { let reason: String }

    /// Builds the table for `lengths[symbol]` (0 = unused, at most 15).
    ///
    /// Over-subscribed codes are rejected; incomplete codes are rejected except (as zlib does)
    /// for literal/length and distance codes with no code longer than one bit.
    init(lengths: [UInt8], kind: Kind) throws(BuildError) {
        var counts = [Int](repeating: 0, count: 16)
        var maxLength = 0
        for l in lengths {
            counts[Int(l)] += 1
            maxLength = max(maxLength, Int(l))
        }
        counts[0] = 0
        var left = 1
        for len in 1...15 {
            left = left << 1 - counts[len]
            if left < 0 { throw BuildError(reason: "over-subscribed code (too many codes of length \(len))") }
        }
        if left > 0 && (kind == .codeLengths || maxLength > 1) {
            throw BuildError(reason: "incomplete code")
        }
        var next = [Int](repeating: 0, count: 16)
        var code = 0
        for len in 1...15 {
            code = (code + counts[len - 1]) << 1
            next[len] = code
        }
        let bits = max(maxLength, 1)
        var entries = [UInt32](repeating: 0, count: 1 << bits)
        for (symbol, l) in lengths.enumerated() where l != 0 {
            let len = Int(l)
            let c = next[len]
            next[len] += 1
            var reversed = 0
            for i in 0..<len where c & (1 << i) != 0 { reversed |= 1 << (len - 1 - i) }
            let entry = UInt32(symbol) << 4 | UInt32(len)
            var i = reversed
            while i < entries.count {
                entries[i] = entry
                i += 1 << len
            }
        }
        self.bits = bits
        self.entries = entries
    }

    /// The fixed literal/length table of block type 1.
    static let fixedLiteralLength: HuffmanTable = {
        var lengths = [UInt8](repeating: 8, count: 288)
        for i in 144..<256 { lengths[i] = 9 }
        for i in 256..<280 { lengths[i] = 7 }
        return try! HuffmanTable(lengths: lengths, kind: .literalLength)
    }()

    /// The fixed distance table of block type 1 (30 used symbols of 32, all 5 bits).
    static let fixedDistance: HuffmanTable = try! HuffmanTable(
        lengths: [UInt8](repeating: 5, count: 32), kind: .distance)
}
