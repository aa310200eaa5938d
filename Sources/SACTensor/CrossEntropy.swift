import Foundation

/// Softmax cross-entropy over a vocabulary, with ignored rows (PyTorch `ignore_index`).
///
/// Row `t` with target `y_t ≠ ignoreIndex` contributes `logsumexp(logits[t, :]) − logits[t, y_t]`;
/// rows whose target equals `ignoreIndex` contribute nothing and get a zero gradient.
/// Per-row losses are Float64 and summed in row order, so results do not depend on threads.
public enum CrossEntropy {
    /// PyTorch's default `ignore_index`.
    public static let defaultIgnoreIndex: Int32 = -100

    /// Sum of the per-row losses over the counted rows, and their number.
    ///
    /// - Parameters:
    ///   - logits: `[rows × vocab]` unnormalised scores.
    ///   - targets: `rows` class ids in `0..<vocab`, or `ignoreIndex`.
    /// - Precondition: `rows >= 0`, `vocab >= 1`, every target valid.
    public static func forward(
        logits: UnsafePointer<Float>, targets: UnsafePointer<Int32>, rows: Int, vocab: Int,
        ignoreIndex: Int32 = defaultIgnoreIndex
    ) -> (lossSum: Double, count: Int) {
        let n = checkTargets(targets, rows, vocab, ignoreIndex, "CrossEntropy.forward")
        if n == 0 { return (0, 0) }
        var losses = [Double](repeating: 0, count: rows)
        losses.withUnsafeMutableBufferPointer { lb in
            let ls = UncheckedSendable(lb.baseAddress!), xs = UncheckedSendable(logits), ts = UncheckedSendable(targets)
            Parallel.forRanges(rows, grain: max(1, 32768 / vocab)) { range in
                for t in range where ts.value[t] != ignoreIndex {
                    let x = xs.value + t * vocab
                    ls.value[t] = logSumExp(x, vocab) - Double(x[Int(ts.value[t])])
                }
            }
        }
        return (losses.reduce(0, +), n)
    }

    /// Writes `dLogits[t, :] = scale · (softmax(logits[t, :]) − onehot(y_t))` for counted rows
    /// and zeros for ignored rows. `dLogits` may be the same buffer as `logits` (in place).
    ///
    /// - Parameter scale: factor on the gradient, typically `1 / count` for a mean loss.
    public static func backward(
        logits: UnsafePointer<Float>, targets: UnsafePointer<Int32>, dLogits: UnsafeMutablePointer<Float>,
        rows: Int, vocab: Int, scale: Float, ignoreIndex: Int32 = defaultIgnoreIndex
    ) {
        _ = checkTargets(targets, rows, vocab, ignoreIndex, "CrossEntropy.backward")
        _ = run(logits, targets, dLogits, rows, vocab, scale: scale, ignoreIndex: ignoreIndex)
    }

    /// Loss and gradient in one pass over each row, the gradient written over the logits
    /// (saves a `[rows × vocab]` buffer). `scale` defaults to `1 / count` (mean loss; 0 when
    /// every row is ignored). Returns the same `(lossSum, count)` as `forward`.
    public static func forwardBackward(
        logitsToGradient logits: UnsafeMutablePointer<Float>, targets: UnsafePointer<Int32>,
        rows: Int, vocab: Int, scale: Float? = nil, ignoreIndex: Int32 = defaultIgnoreIndex
    ) -> (lossSum: Double, count: Int) {
        let n = checkTargets(targets, rows, vocab, ignoreIndex, "CrossEntropy.forwardBackward")
        let s = scale ?? (n > 0 ? 1 / Float(n) : 0)
        return (run(UnsafePointer(logits), targets, logits, rows, vocab, scale: s, ignoreIndex: ignoreIndex), n)
    }

    /// Counts the non-ignored rows; precondition on sizes and target range.
    private static func checkTargets(
        _ targets: UnsafePointer<Int32>, _ rows: Int, _ vocab: Int, _ ignore: Int32, _ op: String
    ) -> Int {
        precondition(rows >= 0 && vocab >= 1, "\(op): need rows ≥ 0 and vocab ≥ 1")
        var n = 0
        for t in 0..<rows where targets[t] != ignore {
            precondition(targets[t] >= 0 && Int(targets[t]) < vocab,
                         "\(op): target \(targets[t]) at row \(t) outside 0..<\(vocab)")
            n += 1
        }
        return n
    }

    /// Gradient rows (and the summed loss of the counted rows).
    private static func run(
        _ logits: UnsafePointer<Float>, _ targets: UnsafePointer<Int32>, _ grad: UnsafeMutablePointer<Float>,
        _ rows: Int, _ vocab: Int, scale: Float, ignoreIndex: Int32
    ) -> Double {
        if rows == 0 { return 0 }
        var losses = [Double](repeating: 0, count: rows)
        losses.withUnsafeMutableBufferPointer { lb in
            let ls = UncheckedSendable(lb.baseAddress!), xs = UncheckedSendable(logits)
            let ts = UncheckedSendable(targets), gs = UncheckedSendable(grad)
            Parallel.forRanges(rows, grain: max(1, 32768 / vocab)) { range in
                for t in range {
                    let x = xs.value + t * vocab, g = gs.value + t * vocab
                    let y = ts.value[t]
                    if y == ignoreIndex { g.update(repeating: 0, count: vocab); continue }
                    let xy = x[Int(y)]
                    let m = VecMath.max(x, vocab)
                    let s = VecMath.expShiftedSum(x, g, vocab, shift: m)
                    ls.value[t] = Double(m) + Foundation.log(s) - Double(xy)
                    VecMath.scale(g, vocab, by: Float(Double(scale) / s))
                    g[Int(y)] -= scale
                }
            }
        }
        return losses.reduce(0, +)
    }

    /// `log Σ exp(x_j)` of one row, stable (max shifted), the sum as in `VecMath.expShiftedSum`.
    @inline(__always)
    static func logSumExp(_ x: UnsafePointer<Float>, _ n: Int) -> Double {
        let m = VecMath.max(x, n)
        return Double(m) + Foundation.log(VecMath.expShiftedSum(x, nil, n, shift: m))
    }
}

extension CrossEntropy {
    /// `(lossSum, count)` for `logits` `[T × V]` and `T` targets. Throws
    /// `TensorError.shapeMismatch` for a non-matrix or a wrong target count and
    /// `TensorError.invalidArgument` for a target outside `0..<V` that is not `ignoreIndex`.
    public static func loss(logits: Tensor, targets: [Int32], ignoreIndex: Int32 = defaultIgnoreIndex) throws
        -> (lossSum: Double, count: Int) {
        let (t, v) = try check(logits, targets, ignoreIndex, "CrossEntropy.loss")
        if t == 0 { return (0, 0) }
        return logits.data.withUnsafeBufferPointer { lb in
            targets.withUnsafeBufferPointer { tb in
                forward(logits: lb.baseAddress!, targets: tb.baseAddress!, rows: t, vocab: v, ignoreIndex: ignoreIndex)
            }
        }
    }

    /// `scale · (softmax − onehot)` per counted row, zero rows for ignored targets; `[T × V]`.
    public static func gradient(
        logits: Tensor, targets: [Int32], scale: Float, ignoreIndex: Int32 = defaultIgnoreIndex
    ) throws -> Tensor {
        let (t, v) = try check(logits, targets, ignoreIndex, "CrossEntropy.gradient")
        var g = logits
        if t == 0 { return g }
        g.data.withUnsafeMutableBufferPointer { gb in
            targets.withUnsafeBufferPointer { tb in
                backward(logits: gb.baseAddress!, targets: tb.baseAddress!, dLogits: gb.baseAddress!,
                         rows: t, vocab: v, scale: scale, ignoreIndex: ignoreIndex)
            }
        }
        return g
    }

    private static func check(_ logits: Tensor, _ targets: [Int32], _ ignore: Int32, _ op: String) throws -> (Int, Int) {
        guard logits.rank == 2, logits.shape[0] == targets.count else {
            throw TensorError.shapeMismatch(
                op: op, detail: "logits have shape \(logits.shape), expected [\(targets.count), vocab]")
        }
        let v = logits.shape[1]
        guard v >= 1 else { throw TensorError.invalidArgument(op: op, detail: "vocabulary size must be ≥ 1") }
        if let t = targets.firstIndex(where: { $0 != ignore && ($0 < 0 || Int($0) >= v) }) {
            throw TensorError.invalidArgument(op: op, detail: "target \(targets[t]) at row \(t) outside 0..<\(v)")
        }
        return (t: logits.shape[0], v: v) as (Int, Int)
    }
}
