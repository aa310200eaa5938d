extension QAReadResult {
    /// The questions of the last `count` distinct contexts (all of them when there are fewer),
    /// in file order: the contexts `sac train` holds out for validation with
    /// `--valid-contexts count`. Named "NAME-lastN".
    public func lastContexts(_ count: Int) -> QAReadResult {
        var order: [String] = []
        var seen = Set<String>()
        for e in examples where seen.insert(e.context).inserted { order.append(e.context) }
        let kept = Set(order.suffix(count))
        return QAReadResult(examples: examples.filter { kept.contains($0.context) }, skipped: skipped, name: "\(name)-last\(count)")
    }

    /// A sample that covers the whole set: the first question of each of `count` distinct
    /// contexts taken at even steps through the file's contexts (context ⌊i·n/count⌋ of n, for
    /// i = 0 ..< count; all of them when n ≤ count). Data sets such as SQuAD-dev are grouped by
    /// article, so their first few hundred questions come from two or three articles; this
    /// sample spreads the same number over all of them. Named "NAME-spreadCOUNT".
    public func spread(_ count: Int) -> QAReadResult {
        var order: [String] = []
        var first: [String: QAExample] = [:]
        for e in examples where first[e.context] == nil {
            order.append(e.context)
            first[e.context] = e
        }
        let n = order.count
        let picked: [Int] = n <= count ? Array(0..<n) : (0..<count).map { $0 * n / count }
        return QAReadResult(examples: picked.compactMap { first[order[$0]] }, skipped: skipped, name: "\(name)-spread\(count)")
    }

    /// The multi-chunk version of a QA set: every question's paragraph placed among `count`
    /// other paragraphs of the same set (distinct, never its own), joined by blank lines, at
    /// position `i mod (count + 1)` for question i, so that the answer's paragraph is first,
    /// second, … in turn. The other paragraphs are drawn from a generator seeded by
    /// (`seed`, i): the set is the same on every run and machine. Named "NAME+count".
    ///
    /// With fewer than `count + 1` distinct paragraphs, every other one is used.
    public func withDistractors(_ count: Int, seed: UInt64 = 0) -> QAReadResult {
        var paragraphs: [String] = []
        var seen = Set<String>()
        for e in examples where seen.insert(e.context).inserted { paragraphs.append(e.context) }
        let wanted = min(count, max(0, paragraphs.count - 1))
        var out: [QAExample] = []
        out.reserveCapacity(examples.count)
        for (i, e) in examples.enumerated() {
            var state = seed &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(i) &* 0xBF58_476D_1CE4_E5B9 &+ 0xD1B5
            func next() -> UInt64 {
                state &+= 0x9E37_79B9_7F4A_7C15
                var z = state
                z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
                z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
                return z ^ (z >> 31)
            }
            var others: [String] = []
            while others.count < wanted {
                let p = paragraphs[Int(next() % UInt64(paragraphs.count))]
                if p != e.context && !others.contains(p) { others.append(p) }
            }
            others.insert(e.context, at: i % (wanted + 1))
            var x = e
            x.context = others.joined(separator: "\n\n")
            out.append(x)
        }
        return QAReadResult(examples: out, skipped: skipped, name: "\(name)+\(count)")
    }
}
