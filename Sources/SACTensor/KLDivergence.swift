import Foundation

/// The distillation loss between a teacher's and a student's next-token distributions:
/// per row `KL(p_T ‖ p_S) = Σ_j p_T[j] · (log p_T[j] − log p_S[j])` with `p = softmax(logits)`
/// (temperature 1), forward and backward side by side.
///
/// The gradient with respect to the student's logits is `p_S − p_T` per row (the teacher is
/// a constant). Per-row losses are Float64 and summed in row order, so results do not depend
/// on threads.
public enum KLDivergence {
    /// Sum over `rows` of `KL(softmax(teacher) ‖ softmax(student))`, and with `scale` the
    /// gradient `scale · (p_S − p_T)` written over the student's logits (in place).
    ///
    /// - Parameters:
    ///   - student: `[rows × vocab]` logits, replaced by the gradient.
    ///   - teacher: `[rows × vocab]` logits.
    /// - Precondition: `rows >= 0`, `vocab >= 1`.
    public static func forwardBackward(
        studentToGradient student: UnsafeMutablePointer<Float>, teacher: UnsafePointer<Float>, rows: Int, vocab: Int,
        scale: Float
    ) -> Double {
        precondition(rows >= 0 && vocab >= 1, "KLDivergence: need rows ≥ 0 and vocab ≥ 1")
        if rows == 0 { return 0 }
        var losses = [Double](repeating: 0, count: rows)
        var pTBuf = [Float](repeating: 0, count: rows * vocab)  // exp(t − max) per row
        losses.withUnsafeMutableBufferPointer { lb in
            pTBuf.withUnsafeMutableBufferPointer { pb in
                let ls = UncheckedSendable(lb.baseAddress!), ss = UncheckedSendable(student)
                let ts = UncheckedSendable(teacher), ps = UncheckedSendable(pb.baseAddress!)
                Parallel.forRanges(rows, grain: max(1, 32768 / vocab)) { range in
                    for r in range {
                        let s = ss.value + r * vocab, t = ts.value + r * vocab, p = ps.value + r * vocab
                        // log p_T = t − lseT; log p_S = s − lseS.
                        let mT = VecMath.max(t, vocab)
                        let sumT = VecMath.expShiftedSum(t, p, vocab, shift: mT)
                        let lseT = Double(mT) + Foundation.log(sumT)
                        let mS = VecMath.max(s, vocab)
                        let lseS = Double(mS) + Foundation.log(VecMath.expShiftedSum(s, nil, vocab, shift: mS))
                        // Σ p_T (t − s) − lseT + lseS, with p_T = p / sumT.
                        var dot = 0.0
                        for j in 0..<vocab { dot += Double(p[j]) * Double(t[j] - s[j]) }
                        ls.value[r] = dot / sumT - lseT + lseS
                        // Gradient: scale · (exp(s − lseS) − p_T).
                        let invT = Float(1 / sumT)
                        for j in 0..<vocab {
                            let pS = Float(Foundation.exp(Double(s[j]) - lseS))
                            s[j] = scale * (pS - p[j] * invT)
                        }
                    }
                }
            }
        }
        return losses.reduce(0, +)
    }

    /// `KL(softmax(teacher) ‖ softmax(student))` summed over the rows of two `[rows × vocab]`
    /// tensors, and the gradient `scale · (p_S − p_T)` with respect to `student`.
    /// - Throws: `TensorError.shapeMismatch` unless both are matrices of the same shape.
    public static func loss(student: Tensor, teacher: Tensor, scale: Float = 1) throws -> (lossSum: Double, gradient: Tensor) {
        guard student.rank == 2, student.shape == teacher.shape, student.shape[1] >= 1 else {
            throw TensorError.shapeMismatch(
                op: "KLDivergence.loss", detail: "student \(student.shape) and teacher \(teacher.shape) must be equal [rows, vocab]")
        }
        var g = student
        let sum = g.data.withUnsafeMutableBufferPointer { gb in
            teacher.data.withUnsafeBufferPointer { tb in
                forwardBackward(studentToGradient: gb.baseAddress!, teacher: tb.baseAddress!, rows: student.shape[0],
                                vocab: student.shape[1], scale: scale)
            }
        }
        return (sum, g)
    }
}
