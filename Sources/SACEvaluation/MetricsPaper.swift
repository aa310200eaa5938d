import Foundation

/// The paper's metrics, computed against one reference answer, case-sensitively.
public enum PaperMetrics {
    /// ROUGE-1 F over unigram *sets* of whitespace-separated tokens.
    ///
    /// With A the prediction's token set and B the reference's, P = |A∩B|/|A|, R = |A∩B|/|B|
    /// and F = 2PR/(P+R); 0 when either set is empty or they share no token. In [0, 1].
    public static func rouge1SetF(prediction: String, reference: String) -> Double {
        let a = Set(prediction.split(whereSeparator: \.isWhitespace))
        let b = Set(reference.split(whereSeparator: \.isWhitespace))
        guard !a.isEmpty, !b.isEmpty else { return 0 }
        let common = Double(a.intersection(b).count)
        guard common > 0 else { return 0 }
        let p = common / Double(a.count), r = common / Double(b.count)
        return 2 * p * r / (p + r)
    }

    /// Whether the prediction equals the reference once leading and trailing whitespace is removed.
    public static func exactMatch(prediction: String, reference: String) -> Bool {
        prediction.trimmingCharacters(in: .whitespacesAndNewlines) == reference.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
