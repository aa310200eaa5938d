/// Finds special (verbatim) tokens in UTF-8 input, leftmost-longest, like Hugging Face's
/// added-token splitting (no normaliser, no lstrip/rstrip).
struct SpecialTokenMatcher: Sendable {
    /// Candidates by first byte, longest first.
    private let byFirstByte: [[([UInt8], Int32)]]
    let isEmpty: Bool

    init(_ tokens: [(String, Int32)]) {
        var table = [[([UInt8], Int32)]](repeating: [], count: 256)
        for (s, id) in tokens {
            let b = Array(s.utf8)
            guard let f = b.first else { continue }
            table[Int(f)].append((b, id))
        }
        for i in 0..<256 { table[i].sort { $0.0.count > $1.0.count } }
        byFirstByte = table
        isEmpty = tokens.isEmpty
    }

    /// The longest special token starting at `bytes[i]`: (id, length), or nil.
    @inline(__always)
    func match(_ bytes: UnsafeBufferPointer<UInt8>, at i: Int) -> (Int32, Int)? {
        let cands = byFirstByte[Int(bytes[i])]
        if cands.isEmpty { return nil }
        for (t, id) in cands where t.count <= bytes.count - i {
            var ok = true
            for k in 1..<t.count where bytes[i + k] != t[k] { ok = false; break }
            if ok { return (id, t.count) }
        }
        return nil
    }
}
