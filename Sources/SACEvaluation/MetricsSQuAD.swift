/// The SQuAD v1.1 evaluation script's metrics: answer normalisation, token F1 and exact match.
public enum SQuADMetrics {
    /// ASCII punctuation, as Python's `string.punctuation`.
    private static let punctuation = Set("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~".unicodeScalars)

    /// Whether `s` is a word character for Python's `\b` in `re` (letters, numbers, "_").
    private static func isWordScalar(_ s: Unicode.Scalar) -> Bool {
        if s == "_" { return true }
        switch s.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return true
        default: return s.properties.numericType != nil
        }
    }

    /// Whether `s` separates tokens for Python's `str.split()`.
    private static func isSpaceScalar(_ s: Unicode.Scalar) -> Bool {
        s.properties.isWhitespace || (0x1C...0x1F).contains(s.value)
    }

    /// The official `normalize_answer`: lowercase, drop ASCII punctuation, replace the whole
    /// words "a", "an", "the" by a space, then fold runs of whitespace into single spaces.
    public static func normalize(_ text: String) -> String {
        let lowered = text.lowercased().unicodeScalars.filter { !punctuation.contains($0) }
        let scalars = Array(lowered)
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(scalars.count)
        var i = 0
        while i < scalars.count {
            if i == 0 || !isWordScalar(scalars[i - 1]) {
                var matched = 0
                for article in ["the", "an", "a"] {
                    let a = Array(article.unicodeScalars)
                    if i + a.count <= scalars.count, Array(scalars[i..<(i + a.count)]) == a,
                       i + a.count == scalars.count || !isWordScalar(scalars[i + a.count]) {
                        matched = a.count
                        break
                    }
                }
                if matched > 0 {
                    out.append(" ")
                    i += matched
                    continue
                }
            }
            out.append(scalars[i])
            i += 1
        }
        return tokens(of: out).joined(separator: " ")
    }

    private static func tokens(of scalars: [Unicode.Scalar]) -> [String] {
        var result: [String] = []
        var current = String.UnicodeScalarView()
        for s in scalars {
            if isSpaceScalar(s) {
                if !current.isEmpty { result.append(String(current)); current = String.UnicodeScalarView() }
            } else {
                current.append(s)
            }
        }
        if !current.isEmpty { result.append(String(current)) }
        return result
    }

    /// The normalised answer split into tokens (`normalize_answer(s).split()`).
    public static func tokens(_ text: String) -> [String] {
        normalize(text).split(separator: " ").map(String.init)
    }

    /// Token-multiset F1 between normalised answers, in [0, 1]; 0 when no token is shared.
    public static func f1(prediction: String, reference: String) -> Double {
        let p = tokens(prediction), g = tokens(reference)
        var counts: [String: Int] = [:]
        for t in g { counts[t, default: 0] += 1 }
        var same = 0
        for t in p {
            if let c = counts[t], c > 0 {
                counts[t] = c - 1
                same += 1
            }
        }
        guard same > 0 else { return 0 }
        let precision = Double(same) / Double(p.count), recall = Double(same) / Double(g.count)
        return 2 * precision * recall / (precision + recall)
    }

    /// Whether the normalised answers are equal.
    public static func exactMatch(prediction: String, reference: String) -> Bool {
        normalize(prediction) == normalize(reference)
    }

    /// The best F1 over all gold answers (0 when there are none).
    public static func maxF1(prediction: String, answers: [String]) -> Double {
        answers.map { f1(prediction: prediction, reference: $0) }.max() ?? 0
    }

    /// Whether the prediction exactly matches any gold answer after normalisation.
    public static func maxExactMatch(prediction: String, answers: [String]) -> Bool {
        answers.contains { exactMatch(prediction: prediction, reference: $0) }
    }
}
