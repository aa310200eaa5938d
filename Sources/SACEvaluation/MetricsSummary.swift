/// ROUGE for summaries (QMSum and the like), as Google's `rouge-score` package computes it
/// without stemming: lowercase, every run of characters other than ASCII letters and digits is
/// a separator, then n-gram or longest-common-subsequence overlap.
///
/// (The QA tables use `PaperMetrics.rouge1SetF`, the paper's set-based ROUGE-1, and the SQuAD
/// metrics instead.)
public enum SummaryMetrics {
    /// Precision, recall and F-measure, each in [0, 1].
    public struct Score: Sendable, Equatable {
        public var precision: Double
        public var recall: Double
        public var f: Double

        init(overlap: Int, predicted: Int, reference: Int) {
            precision = Double(overlap) / Double(max(predicted, 1))
            recall = Double(overlap) / Double(max(reference, 1))
            f = precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0
        }
    }

    /// `rouge-score`'s tokens: `text` lowercased, split at every character that is not an
    /// ASCII letter or digit (non-ASCII letters separate tokens and are dropped).
    public static func tokens(_ text: String) -> [String] {
        var out: [String] = []
        var current = String.UnicodeScalarView()
        for u in text.lowercased().unicodeScalars {
            if ("a"..."z").contains(u) || ("0"..."9").contains(u) {
                current.append(u)
            } else if !current.isEmpty {
                out.append(String(current))
                current = String.UnicodeScalarView()
            }
        }
        if !current.isEmpty { out.append(String(current)) }
        return out
    }

    /// ROUGE-N: overlap of the n-gram multisets (each n-gram counted at most as often as it
    /// occurs in the other text). Zero scores when a text has fewer than `n` tokens.
    public static func rougeN(prediction: String, reference: String, n: Int) -> Score {
        precondition(n >= 1, "ROUGE-N needs n ≥ 1")
        let p = ngrams(tokens(prediction), n), r = ngrams(tokens(reference), n)
        var overlap = 0
        for (gram, count) in r { overlap += min(count, p[gram] ?? 0) }
        return Score(overlap: overlap, predicted: p.values.reduce(0, +), reference: r.values.reduce(0, +))
    }

    /// ROUGE-L: the longest common subsequence of the two token sequences, over the
    /// prediction's length (precision) and the reference's (recall). Zero when either is empty.
    public static func rougeL(prediction: String, reference: String) -> Score {
        let p = tokens(prediction), r = tokens(reference)
        guard !p.isEmpty, !r.isEmpty else { return Score(overlap: 0, predicted: 0, reference: 0) }
        return Score(overlap: lcsLength(p, r), predicted: p.count, reference: r.count)
    }

    static func ngrams(_ t: [String], _ n: Int) -> [[String]: Int] {
        var out: [[String]: Int] = [:]
        guard t.count >= n else { return out }
        for i in 0...(t.count - n) { out[Array(t[i..<(i + n)]), default: 0] += 1 }
        return out
    }

    /// Length of the longest common subsequence, in O(|a|·|b|) time and O(|b|) memory.
    static func lcsLength(_ a: [String], _ b: [String]) -> Int {
        var prev = [Int](repeating: 0, count: b.count + 1), row = prev
        for x in a {
            for j in 1...b.count {
                row[j] = x == b[j - 1] ? prev[j - 1] + 1 : max(prev[j], row[j - 1])
            }
            swap(&prev, &row)
        }
        return prev[b.count]
    }
}
