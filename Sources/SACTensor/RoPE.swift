import Foundation

/// Rotary position embedding in the Hugging Face Llama (`rotate_half`, non-interleaved)
/// convention.
///
/// Each head vector of size `headDim` is split into halves `x = [x1, x2]` and rotated pairwise:
/// `out = [x1·cos − x2·sin, x2·cos + x1·sin]` with angle `p · invFreq[i]` for pair `i <
/// headDim/2`. The frequencies and angles are computed in Float32 exactly as PyTorch does
/// (`invFreq = 1 / θ^(2i/headDim)`, `angle = Float(p) · invFreq[i]`); cos and sin are
/// evaluated in Float64 from that Float32 angle and rounded. Positions are arbitrary `Int32`
/// per token (gaps, repeats, any order); positions in `0..<cachedPositions` use a table
/// built at init, the others are computed per call (exact up to |p| ≤ 2²⁴).
public struct RoPETable: Sendable {
    /// Size of one head vector (even).
    public let headDim: Int
    /// Frequency base θ (SmolLM2-135M: 100000).
    public let theta: Double
    /// `[headDim/2]` inverse frequencies, Float32 as PyTorch computes them.
    public let invFreq: [Float]
    /// Positions `0..<cachedPositions` read cos/sin from a precomputed table.
    public let cachedPositions: Int
    /// `[cachedPositions × headDim/2]` cosines and sines.
    let cosTable: [Float]
    let sinTable: [Float]

    /// Builds the frequencies (and the cos/sin table for `0..<cachedPositions`).
    ///
    /// - Precondition: `headDim` is even and ≥ 2, `theta` is finite and > 0,
    ///   `cachedPositions >= 0` (`LlamaConfig.validate()` checks the first two for model files).
    public init(headDim: Int, theta: Double, cachedPositions: Int = 4096) {
        precondition(headDim >= 2 && headDim % 2 == 0, "RoPETable: headDim \(headDim) must be even and ≥ 2")
        precondition(theta.isFinite && theta > 0, "RoPETable: theta \(theta) must be positive and finite")
        precondition(cachedPositions >= 0, "RoPETable: negative cachedPositions")
        self.headDim = headDim
        self.theta = theta
        self.cachedPositions = cachedPositions
        let half = headDim / 2
        // torch: 1.0 / (base ** (torch.arange(0, dim, 2).float() / dim)), all Float32.
        let inv = (0..<half).map { i -> Float in
            let e = Float(2 * i) / Float(headDim)
            let p = Float(Foundation.pow(theta, Double(e)))
            return 1 / p
        }
        invFreq = inv
        var c = [Float](repeating: 0, count: cachedPositions * half), s = c
        for p in 0..<cachedPositions {
            for i in 0..<half {
                let (cv, sv) = Self.cosSin(Float(p) * inv[i])
                c[p * half + i] = cv
                s[p * half + i] = sv
            }
        }
        cosTable = c
        sinTable = s
    }

    /// cos and sin of a Float32 angle, evaluated in Float64 and rounded to Float32.
    @inline(__always)
    static func cosSin(_ angle: Float) -> (Float, Float) {
        let a = Double(angle)
        return (Float(Foundation.cos(a)), Float(Foundation.sin(a)))
    }

    /// Writes the `[headDim/2]` cosines and sines for one position.
    public func cosSin(position: Int32, cos: UnsafeMutablePointer<Float>, sin: UnsafeMutablePointer<Float>) {
        let half = headDim / 2
        if position >= 0 && Int(position) < cachedPositions {
            let base = Int(position) * half
            cosTable.withUnsafeBufferPointer { cos.update(from: $0.baseAddress! + base, count: half) }
            sinTable.withUnsafeBufferPointer { sin.update(from: $0.baseAddress! + base, count: half) }
        } else {
            let p = Float(position)
            for i in 0..<half {
                let (c, s) = Self.cosSin(p * invFreq[i])
                cos[i] = c
                sin[i] = s
            }
        }
    }

    /// Rotates, in place, every head of every token: `x` is `[tokens × rowStride]` with the
    /// `heads` head vectors of token `t` at `x + t·rowStride + h·headDim`.
    ///
    /// - Parameters:
    ///   - x: queries `[T × nHeads·headDim]` or keys `[T × nKV·headDim]` (rotated in place).
    ///   - positions: `tokens` positions, one per token.
    ///   - rowStride: elements between consecutive tokens; default `heads · headDim`.
    /// - Precondition: `positions.count == tokens`, `rowStride >= heads · headDim`.
    public func apply(
        _ x: UnsafeMutablePointer<Float>, tokens: Int, heads: Int, positions: UnsafePointer<Int32>, rowStride: Int? = nil
    ) {
        rotate(x, tokens: tokens, heads: heads, positions: positions, rowStride: rowStride, inverse: false)
    }

    /// Backward of `apply`: rotates the gradients in place by the opposite angles
    /// (`dx = [g1·cos + g2·sin, g2·cos − g1·sin]`). Same layout and preconditions as `apply`.
    public func applyBackward(
        _ grad: UnsafeMutablePointer<Float>, tokens: Int, heads: Int, positions: UnsafePointer<Int32>,
        rowStride: Int? = nil
    ) {
        rotate(grad, tokens: tokens, heads: heads, positions: positions, rowStride: rowStride, inverse: true)
    }

    /// `apply` with positions in an array (`positions.count == tokens`).
    public func apply(_ x: UnsafeMutablePointer<Float>, tokens: Int, heads: Int, positions: [Int32], rowStride: Int? = nil) {
        precondition(positions.count == tokens, "RoPETable.apply: \(positions.count) positions for \(tokens) tokens")
        positions.withUnsafeBufferPointer { pb in
            guard let pp = pb.baseAddress else { return }
            apply(x, tokens: tokens, heads: heads, positions: pp, rowStride: rowStride)
        }
    }

    /// `applyBackward` with positions in an array (`positions.count == tokens`).
    public func applyBackward(
        _ grad: UnsafeMutablePointer<Float>, tokens: Int, heads: Int, positions: [Int32], rowStride: Int? = nil
    ) {
        precondition(positions.count == tokens, "RoPETable.applyBackward: \(positions.count) positions for \(tokens) tokens")
        positions.withUnsafeBufferPointer { pb in
            guard let pp = pb.baseAddress else { return }
            applyBackward(grad, tokens: tokens, heads: heads, positions: pp, rowStride: rowStride)
        }
    }

    private func rotate(
        _ x: UnsafeMutablePointer<Float>, tokens: Int, heads: Int, positions: UnsafePointer<Int32>,
        rowStride: Int?, inverse: Bool
    ) {
        let stride = rowStride ?? heads * headDim
        precondition(tokens >= 0 && heads >= 0, "RoPETable: negative size")
        precondition(stride >= heads * headDim, "RoPETable: rowStride \(stride) < heads·headDim \(heads * headDim)")
        if tokens == 0 || heads == 0 { return }
        let half = headDim / 2, hd = headDim
        let xs = UncheckedSendable(x), ps = UncheckedSendable(positions)
        Parallel.forRanges(tokens, grain: max(1, 8192 / (heads * hd))) { range in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: 2 * half) { scratch in
                let c = scratch.baseAddress!, s = c + half
                for t in range {
                    cosSin(position: ps.value[t], cos: c, sin: s)
                    let row = xs.value + t * stride
                    for h in 0..<heads {
                        Self.rotateHead(row + h * hd, c, s, half, inverse)
                    }
                }
            }
        }
    }

    /// Rotates one head vector in place (`inverse` rotates by −angle). Products and the sum are
    /// rounded separately (no FMA), as PyTorch's `q * cos + rotate_half(q) * sin`.
    @inline(__always)
    static func rotateHead(
        _ v: UnsafeMutablePointer<Float>, _ c: UnsafePointer<Float>, _ s: UnsafePointer<Float>, _ half: Int, _ inverse: Bool
    ) {
        let a = v, b = v + half
        var i = 0
        if inverse {
            while i + 8 <= half {
                let x1 = UnsafeRawPointer(a + i).loadUnaligned(as: SIMD8<Float>.self)
                let x2 = UnsafeRawPointer(b + i).loadUnaligned(as: SIMD8<Float>.self)
                let cv = UnsafeRawPointer(c + i).loadUnaligned(as: SIMD8<Float>.self)
                let sv = UnsafeRawPointer(s + i).loadUnaligned(as: SIMD8<Float>.self)
                let o1 = x1 * cv + x2 * sv, o2 = x2 * cv - x1 * sv
                UnsafeMutableRawPointer(a + i).storeBytes(of: o1, as: SIMD8<Float>.self)
                UnsafeMutableRawPointer(b + i).storeBytes(of: o2, as: SIMD8<Float>.self)
                i += 8
            }
            while i < half {
                let x1 = a[i], x2 = b[i]
                a[i] = x1 * c[i] + x2 * s[i]
                b[i] = x2 * c[i] - x1 * s[i]
                i += 1
            }
        } else {
            while i + 8 <= half {
                let x1 = UnsafeRawPointer(a + i).loadUnaligned(as: SIMD8<Float>.self)
                let x2 = UnsafeRawPointer(b + i).loadUnaligned(as: SIMD8<Float>.self)
                let cv = UnsafeRawPointer(c + i).loadUnaligned(as: SIMD8<Float>.self)
                let sv = UnsafeRawPointer(s + i).loadUnaligned(as: SIMD8<Float>.self)
                let o1 = x1 * cv - x2 * sv, o2 = x2 * cv + x1 * sv
                UnsafeMutableRawPointer(a + i).storeBytes(of: o1, as: SIMD8<Float>.self)
                UnsafeMutableRawPointer(b + i).storeBytes(of: o2, as: SIMD8<Float>.self)
                i += 8
            }
            while i < half {
                let x1 = a[i], x2 = b[i]
                a[i] = x1 * c[i] - x2 * s[i]
                b[i] = x2 * c[i] + x1 * s[i]
                i += 1
            }
        }
    }
}

extension RoPETable {
    /// Rotates `x` (`[T × heads·headDim]`) in place for the given `T` positions. Throws
    /// `TensorError.shapeMismatch` when `x` is not `[positions.count, heads·headDim]`, and
    /// `TensorError.invalidArgument` when `heads < 0`.
    public func apply(to x: inout Tensor, heads: Int, positions: [Int32]) throws {
        try run(&x, heads: heads, positions: positions, inverse: false, op: "RoPETable.apply")
    }

    /// Backward of `apply(to:heads:positions:)`: rotates the gradient `grad` in place by the
    /// opposite angles. Same shape rules.
    public func applyBackward(to grad: inout Tensor, heads: Int, positions: [Int32]) throws {
        try run(&grad, heads: heads, positions: positions, inverse: true, op: "RoPETable.applyBackward")
    }

    private func run(_ x: inout Tensor, heads: Int, positions: [Int32], inverse: Bool, op: String) throws {
        guard heads >= 0 else { throw TensorError.invalidArgument(op: op, detail: "heads must be ≥ 0, got \(heads)") }
        try x.expectShape([positions.count, heads * headDim], "x", op: op)
        x.data.withUnsafeMutableBufferPointer { xb in
            positions.withUnsafeBufferPointer { pb in
                guard let xp = xb.baseAddress, let pp = pb.baseAddress else { return }
                rotate(xp, tokens: positions.count, heads: heads, positions: pp, rowStride: nil, inverse: inverse)
            }
        }
    }
}
