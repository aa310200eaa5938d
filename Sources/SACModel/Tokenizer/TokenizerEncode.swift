extension Tokenizer {
    /// Encodes `text` to token ids: special tokens found verbatim become their ids, the text
    /// between them is pre-tokenized and each piece merged by byte-level BPE. With
    /// `addSpecialTokens`, `prefixIds` (BOS) and `suffixIds` (EOS) are added as configured.
    public func encode(_ text: String, addSpecialTokens: Bool = true) -> [Int32] {
        var out = [Int32]()
        out.reserveCapacity(text.utf8.count / 3 + 4)
        if addSpecialTokens { out.append(contentsOf: prefixIds) }
        var state = EncodeState()
        var utf8 = Array(text.utf8)
        utf8.withUnsafeMutableBufferPointer { mbuf in
            let buf = UnsafeBufferPointer(mbuf)
            let n = buf.count
            var segStart = 0
            var i = 0
            if !matcher.isEmpty {
                while i < n {
                    if let (id, len) = matcher.match(buf, at: i) {
                        encodeSegment(buf, segStart, i, &state, &out)
                        out.append(id)
                        i += len
                        segStart = i
                    } else {
                        i += 1
                    }
                }
            }
            encodeSegment(buf, segStart, n, &state, &out)
        }
        if addSpecialTokens { out.append(contentsOf: suffixIds) }
        return out
    }

    /// Pre-tokenizes and BPE-encodes the valid UTF-8 bytes `buf[lo..<hi]`.
    func encodeSegment(_ buf: UnsafeBufferPointer<UInt8>, _ lo: Int, _ hi: Int,
                       _ st: inout EncodeState, _ out: inout [Int32]) {
        guard lo < hi else { return }
        st.scalars.removeAll(keepingCapacity: true)
        st.classes.removeAll(keepingCapacity: true)
        st.offsets.removeAll(keepingCapacity: true)
        var p = lo
        while p < hi {
            let b0 = UInt32(buf[p])
            var v: UInt32
            var len: Int
            if b0 < 0x80 {
                v = b0; len = 1
            } else if b0 < 0xE0 {
                v = (b0 & 0x1F) << 6 | UInt32(buf[p + 1] & 0x3F); len = 2
            } else if b0 < 0xF0 {
                v = (b0 & 0x0F) << 12 | UInt32(buf[p + 1] & 0x3F) << 6 | UInt32(buf[p + 2] & 0x3F); len = 3
            } else {
                v = (b0 & 0x07) << 18 | UInt32(buf[p + 1] & 0x3F) << 12 | UInt32(buf[p + 2] & 0x3F) << 6
                    | UInt32(buf[p + 3] & 0x3F); len = 4
            }
            st.scalars.append(v)
            st.classes.append(ScalarClass.of(v))
            st.offsets.append(Int32(p))
            p += len
        }
        st.offsets.append(Int32(hi))
        st.ranges.removeAll(keepingCapacity: true)
        preTokenizer.split(scalars: st.scalars, classes: st.classes, into: &st.ranges)
        for r in st.ranges {
            let a = Int(st.offsets[r.lowerBound]), b = Int(st.offsets[r.upperBound])
            let word = UnsafeBufferPointer(rebasing: buf[a..<b])
            encodeWord(word, &st, &out)
        }
    }

    /// BPE-encodes one pre-token (its UTF-8 bytes), using the per-call cache.
    @inline(__always)
    func encodeWord(_ word: UnsafeBufferPointer<UInt8>, _ st: inout EncodeState, _ out: inout [Int32]) {
        if word.count == 1 {
            let id = byteIds[Int(word[0])]
            if id >= 0 { out.append(id) } else if let u = unkTokenId { out.append(Int32(u)) }
            return
        }
        let key = WordKey(word)
        if let (start, count) = st.cache[key] {
            out.append(contentsOf: st.pool[Int(start)..<Int(start + count)])
            return
        }
        st.symbols.removeAll(keepingCapacity: true)
        for b in word {
            let id = byteIds[Int(b)]
            if id >= 0 {
                st.symbols.append(id)
            } else if let u = unkTokenId {
                st.symbols.append(Int32(u))
            }
        }
        let start = out.count
        st.scratch.merge(st.symbols[...], merges, into: &out)
        if st.cache.count >= EncodeState.cacheLimit {
            st.cache.removeAll(keepingCapacity: true)
            st.pool.removeAll(keepingCapacity: true)
        }
        st.cache[WordKey(Array(word))] = (Int32(st.pool.count), Int32(out.count - start))
        st.pool.append(contentsOf: out[start...])
    }
}

/// A word's bytes as a dictionary key (hash computed once).
struct WordKey: Hashable {
    let bytes: [UInt8]
    init(_ b: UnsafeBufferPointer<UInt8>) { bytes = Array(b) }
    init(_ b: [UInt8]) { bytes = b }
}

/// Per-call encoder scratch: decoded scalars, pre-token ranges, BPE buffers and a bounded
/// cache word bytes → ids (cleared when it reaches `cacheLimit` entries).
struct EncodeState {
    static let cacheLimit = 65_536
    var scalars: [UInt32] = []
    var classes: [UInt8] = []
    var offsets: [Int32] = []
    var ranges: [Range<Int>] = []
    var symbols: [Int32] = []
    var scratch = BPEScratch()
    var cache: [WordKey: (Int32, Int32)] = [:]
    var pool: [Int32] = []
}
