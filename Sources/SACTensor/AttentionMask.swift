/// Which keys each query may attend to in `Attention`.
///
/// Queries are indexed `i ∈ 0..<T` and keys `j ∈ 0..<S`. The keys start with a prefix (a KV
/// cache: a compressed memory or earlier tokens) followed by the keys of the new tokens.
/// A query that sees no key at all gets output 0, logsumexp −∞, and contributes no gradient.
public enum AttentionMask: Sendable, Equatable {
    /// Every query sees every key (bidirectional attention).
    case none
    /// Query `i` sees keys `0..<prefix + i + 1`: the whole prefix and the new tokens up to and
    /// including itself. Requires `0 ≤ prefix` and `prefix + T ≤ S`.
    case causal(prefix: Int)
    /// `allowed[i·S + j]` tells whether query `i` sees key `j` (T×S, row-major). Rows may be
    /// all `false`. Requires `allowed.count == T·S`.
    case explicit(allowed: [Bool])

    /// Throws `TensorError.invalidArgument` unless the mask fits `queries` (T) × `keys` (S):
    /// `prefix ≥ 0` and `prefix + T ≤ S` for `.causal`, `allowed.count == T·S` for `.explicit`.
    public func validate(queries: Int, keys: Int, op: String = "Attention") throws {
        if let problem = problem(queries: queries, keys: keys) {
            throw TensorError.invalidArgument(op: op, detail: problem)
        }
    }

    /// A description of why the mask does not fit T×S, or nil when it does.
    func problem(queries t: Int, keys s: Int) -> String? {
        switch self {
        case .none:
            return nil
        case .causal(let prefix):
            if prefix < 0 { return "causal mask prefix \(prefix) is negative" }
            if prefix + t > s {
                return "causal mask needs prefix + T ≤ S, got prefix \(prefix) + T \(t) > S \(s)"
            }
            return nil
        case .explicit(let allowed):
            if allowed.count != t * s {
                return "explicit mask has \(allowed.count) entries, expected T·S = \(t)·\(s) = \(t * s)"
            }
            return nil
        }
    }

    /// For queries `i0..<i1`, the number of leading keys any of them can see (keys at or past
    /// it are masked for all of those queries). Assumes the mask was validated.
    @inline(__always)
    func keyEnd(queryEnd i1: Int, keys s: Int) -> Int {
        switch self {
        case .none, .explicit: return s
        case .causal(let prefix): return min(s, prefix + i1)
        }
    }
}

/// Sizes of one attention call.
///
/// `q` is [queries × heads·headDim], `k` and `v` are [keys × kvHeads·headDim], the output is
/// [queries × heads·headDim]. Query head `h` reads kv head `h / (heads / kvHeads)`.
public struct AttentionDims: Sendable, Equatable {
    /// T, the number of queries (new tokens), ≥ 0.
    public var queries: Int
    /// S, the number of keys and values (prefix + new tokens), ≥ 0.
    public var keys: Int
    /// nH, the number of query heads, ≥ 1.
    public var heads: Int
    /// nKV, the number of key/value heads, ≥ 1, dividing `heads`.
    public var kvHeads: Int
    /// hd, the size of one head, ≥ 1.
    public var headDim: Int

    public init(queries: Int, keys: Int, heads: Int, kvHeads: Int, headDim: Int) {
        self.queries = queries; self.keys = keys; self.heads = heads
        self.kvHeads = kvHeads; self.headDim = headDim
    }

    /// The usual softmax scale `1/√headDim`.
    public var defaultScale: Float { 1 / Float(headDim).squareRoot() }

    /// Query heads per kv head (`heads / kvHeads`).
    public var group: Int { heads / kvHeads }

    /// A description of why the sizes are invalid, or nil.
    func problem() -> String? {
        if queries < 0 || keys < 0 { return "negative T \(queries) or S \(keys)" }
        if heads < 1 || kvHeads < 1 || headDim < 1 {
            return "heads \(heads), kvHeads \(kvHeads), headDim \(headDim) must be ≥ 1"
        }
        if heads % kvHeads != 0 { return "heads \(heads) is not a multiple of kvHeads \(kvHeads)" }
        return nil
    }
}
