import ArgumentParser
import Foundation
import SACTensor

/// `sac bench quant`: fused quantised x·Wᵀ against a plain Float32 SIMD GEMV on the
/// SmolLM2-135M projection shapes, and the estimated / measured decode cost of the
/// 30-layer stack.
struct BenchQuant: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quant",
        abstract: "Quantised (Q8_0/Q4_0/Q4_1) matrix-vector products vs Float32, SmolLM2-135M shapes.")

    @Option(help: "Milliseconds per timed batch (7 batches, median reported).")
    var batchMs: Double = 20

    @Option(help: "Token counts to time (comma separated).")
    var tokens: String = "1,4"

    @Option(help: "Thread counts to time (comma separated).")
    var threads: String = "1,2"

    @Flag(help: "Skip the full 30-layer stack run with distinct (out-of-cache) matrices.")
    var noStack = false

    /// Per-layer matrices of SmolLM2-135M: (name, rows, cols).
    static let layer: [(String, Int, Int)] = [
        ("q", 576, 576), ("k", 192, 576), ("v", 192, 576), ("o", 576, 576),
        ("gate", 1536, 576), ("up", 1536, 576), ("down", 576, 1536),
    ]
    static let layers = 30

    /// The weights under test: a quantised matrix (fused row kernels or panels) or a Float32
    /// one (plain GEMV, or the packed GEMM on the dequantised weights).
    enum Weights {
        case quant(QuantizedMatrix)
        case panels(QuantizedPanels)
        case f32(rows: Int, cols: Int, data: [Float])
        case gemm(rows: Int, cols: Int, packed: PackedMatrix)

        var bytes: Int {
            switch self {
            case .quant(let m): return m.weightBytes
            case .panels(let p): return p.weightBytes
            case .f32(let r, let c, _), .gemm(let r, let c, _): return r * c * 4
            }
        }

        func run(_ x: UnsafePointer<Float>, _ tokens: Int, _ y: UnsafeMutablePointer<Float>) {
            switch self {
            case .quant(let m): m.matmul(x: x, tokens: tokens, y: y)
            case .panels(let p): p.matmul(x: x, tokens: tokens, y: y)
            case .f32(let r, let c, let data):
                data.withUnsafeBufferPointer { BenchF32.matmul(w: $0.baseAddress!, rows: r, cols: c, x: x, tokens: tokens, y: y) }
            case .gemm(let r, let c, let packed):
                GEMM.sgemm(transA: false, m: tokens, n: r, k: c, alpha: 1, a: x, lda: c,
                           packedB: packed, beta: 0, c: y, ldc: r)
            }
        }
    }

    /// What a row of the tables measures.
    enum Kind: String { case fused, panels, gemv, gemm }

    /// `kind` over weights of `format` (nil: Float32).
    static func makeWeights(_ format: QuantFormat?, _ kind: Kind, rows: Int, cols: Int, _ rng: inout SplitMix64) throws -> Weights {
        let w = try makeWeights(kind == .gemm ? nil : format, rows: rows, cols: cols, &rng)
        switch (kind, w) {
        case (.panels, .quant(let m)): return .panels(QuantizedPanels(m))
        case (.gemm, .f32(let r, let c, let data)):
            return data.withUnsafeBufferPointer {
                .gemm(rows: r, cols: c, packed: PackedMatrix(transB: true, k: c, n: r, b: $0.baseAddress!, ldb: c))
            }
        default: return w
        }
    }

    static func makeWeights(_ format: QuantFormat?, rows: Int, cols: Int, _ rng: inout SplitMix64) throws -> Weights {
        guard let f = format else {
            var data = [Float](repeating: 0, count: rows * cols)
            for i in 0..<data.count { data[i] = Float(Int64(bitPattern: rng.next()) >> 40) * 0x1p-23 * 0.05 }
            return .f32(rows: rows, cols: cols, data: data)
        }
        var bytes = [UInt8](repeating: 0, count: try QuantizedMatrix.byteCount(format: f, rows: rows, cols: cols))
        bytes.withUnsafeMutableBytes { raw in
            var i = 0
            while i + 8 <= raw.count { raw.storeBytes(of: rng.next(), toByteOffset: i, as: UInt64.self); i += 8 }
            while i < raw.count { raw[i] = UInt8(truncatingIfNeeded: rng.next()); i += 1 }
            // Valid, sane f16 scales (magnitude 2^-8 … 2^-7) and offsets (negative, 2^-4 … 2^-3).
            var o = 0
            while o < raw.count {
                let d = UInt16(0x1C00) | UInt16(truncatingIfNeeded: rng.next()) & 0x3FF
                raw.storeBytes(of: d.littleEndian, toByteOffset: o, as: UInt16.self)
                if f == .q4_1 {
                    let m = UInt16(0xAC00) | UInt16(truncatingIfNeeded: rng.next()) & 0x3FF
                    raw.storeBytes(of: m.littleEndian, toByteOffset: o + 2, as: UInt16.self)
                }
                o += f.blockBytes
            }
        }
        return .quant(try QuantizedMatrix(format: f, rows: rows, cols: cols, bytes: bytes))
    }

    /// Median seconds per call of `body` over 7 batches of about `batchMs` each.
    func time(_ body: () -> Void) -> Double {
        for _ in 0..<3 { body() }
        let t0 = DispatchTime.now().uptimeNanoseconds
        body()
        let one = max(1, DispatchTime.now().uptimeNanoseconds - t0)
        let reps = max(1, Int(batchMs * 1e6 / Double(one)))
        var batches = [Double]()
        for _ in 0..<7 {
            let s = DispatchTime.now().uptimeNanoseconds
            for _ in 0..<reps { body() }
            batches.append(Double(DispatchTime.now().uptimeNanoseconds - s) * 1e-9 / Double(reps))
        }
        return batches.sorted()[3]
    }

    mutating func run() throws {
        let tokenList = tokens.split(separator: ",").compactMap { Int($0) }.filter { $0 > 0 }
        let threadList = threads.split(separator: ",").compactMap { Int($0) }.filter { $0 > 0 }
        guard !tokenList.isEmpty, !threadList.isEmpty else {
            throw ValidationError("--tokens and --threads need positive integers")
        }
        let savedThreads = Parallel.threads
        defer { Parallel.threads = savedThreads }
        // (name, format, kind): the fused row kernels and the panels of each format, the
        // Float32 GEMV, and the packed Float32 GEMM (what a long prompt runs).
        let variants: [(String, QuantFormat?, Kind)] = [
            ("f32", nil, .gemv), ("gemm", nil, .gemm),
            ("q8_0", .q8_0, .fused), ("q8_0p", .q8_0, .panels),
            ("q4_0", .q4_0, .fused), ("q4_0p", .q4_0, .panels),
            ("q4_1", .q4_1, .fused), ("q4_1p", .q4_1, .panels),
        ]
        let shapes = [(576, 576), (192, 576), (1536, 576), (576, 1536)]
        var rng = SplitMix64(seed: 0xBE4C_0001)
        let maxTokens = tokenList.max()!
        var x = [Float](repeating: 0, count: maxTokens * 1536)
        for i in 0..<x.count { x[i] = Float(rng.nextGaussian()) }
        var y = [Float](repeating: 0, count: maxTokens * 1536)

        print("sac bench quant — y = x·Wᵀ, SmolLM2-135M shapes, hot cache (same matrix every call)")
        print("format  rows×cols    tok thr   ms/call    GB/s  GFLOP/s")
        // perCall[format][tokens][threads][shape] = seconds
        var perCall = [String: Double]()
        print("(name ending in p: the panels of QuantizedPanels; gemm: the packed Float32 GEMM)")
        for (vname, f, kind) in variants {
            for (rows, cols) in shapes {
                let w = try Self.makeWeights(f, kind, rows: rows, cols: cols, &rng)
                for t in tokenList {
                    for th in threadList {
                        Parallel.threads = th
                        let s = x.withUnsafeBufferPointer { xp in
                            y.withUnsafeMutableBufferPointer { yp in
                                time { w.run(xp.baseAddress!, t, yp.baseAddress!) }
                            }
                        }
                        perCall["\(vname) \(rows)x\(cols) \(t) \(th)"] = s
                        let gb = Double(w.bytes) / s * 1e-9
                        let gf = 2.0 * Double(rows * cols * t) / s * 1e-9
                        print(String(format: "%-6@ %4d×%-4d   %3d %3d  %8.4f  %6.1f  %7.1f",
                                     vname, rows, cols, t, th, s * 1e3, gb, gf))
                    }
                }
            }
        }

        print("\nEstimated decode time per step, 30 layers × (q,k,v,o,gate,up,down), from the hot-cache figures:")
        print("format  tok thr  ms/step  weights MB")
        for (vname, f, kind) in variants {
            for t in tokenList {
                for th in threadList {
                    var total = 0.0, bytes = 0.0
                    for (_, r, c) in Self.layer {
                        total += perCall["\(vname) \(r)x\(c) \(t) \(th)"] ?? .nan
                        let per: Double
                        switch (f, kind) {
                        case (let q?, .panels): per = Double((r + 7) / 8 * c / 32 * QuantizedPanels.blockBytes(q))
                        case (let q?, _): per = Double(r * c / 32 * q.blockBytes)
                        default: per = Double(r * c * 4)
                        }
                        bytes += per
                    }
                    print(String(format: "%-6@ %3d %3d  %7.2f  %9.1f",
                                 vname, t, th, total * Double(Self.layers) * 1e3, bytes * Double(Self.layers) * 1e-6))
                }
            }
        }

        if noStack { return }
        print("\nMeasured full stack, 210 distinct matrices (out of cache), ms per step (median of 7):")
        print("format  tok thr  ms/step    GB/s")
        for (vname, f, kind) in variants where kind != .gemm {  // 210 packed Float32 copies: 0.5 GB
            var stack = [Weights]()
            for _ in 0..<Self.layers {
                for (_, r, c) in Self.layer { stack.append(try Self.makeWeights(f, kind, rows: r, cols: c, &rng)) }
            }
            let totalBytes = Double(stack.reduce(0) { $0 + $1.bytes })
            for t in tokenList {
                for th in threadList {
                    Parallel.threads = th
                    let s = x.withUnsafeBufferPointer { xp in
                        y.withUnsafeMutableBufferPointer { yp in
                            time { for w in stack { w.run(xp.baseAddress!, t, yp.baseAddress!) } }
                        }
                    }
                    print(String(format: "%-6@ %3d %3d  %7.2f  %6.1f", vname, t, th, s * 1e3, totalBytes / s * 1e-9))
                }
            }
        }
    }
}

/// The Float32 reference: a plain SIMD GEMV `y[t, r] = Σ_c x[t, c] · W[r, c]`, threaded over rows.
enum BenchF32 {
    static func matmul(
        w: UnsafePointer<Float>, rows: Int, cols: Int, x: UnsafePointer<Float>, tokens: Int,
        y: UnsafeMutablePointer<Float>
    ) {
        Parallel.forRanges(rows, grain: max(1, 8192 / max(1, cols))) { range in
            var t = 0
            while t + 4 <= tokens { rows4(w, range, cols, x + t * cols, y + t * rows, rows); t += 4 }
            while t < tokens { rows1(w, range, cols, x + t * cols, y + t * rows); t += 1 }
        }
    }

    @inline(__always)
    static func load(_ p: UnsafePointer<Float>, _ i: Int) -> SIMD8<Float> {
        UnsafeRawPointer(p + i).loadUnaligned(as: SIMD8<Float>.self)
    }

    static func rows1(_ w: UnsafePointer<Float>, _ range: Range<Int>, _ cols: Int,
                      _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>) {
        for r in range {
            let wr = w + r * cols
            var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>(), a3 = SIMD8<Float>()
            var c = 0
            while c + 32 <= cols {
                a0 = a0.addingProduct(load(wr, c), load(x, c))
                a1 = a1.addingProduct(load(wr, c + 8), load(x, c + 8))
                a2 = a2.addingProduct(load(wr, c + 16), load(x, c + 16))
                a3 = a3.addingProduct(load(wr, c + 24), load(x, c + 24))
                c += 32
            }
            var s = ((a0 + a1) + (a2 + a3)).sum()
            while c < cols { s += wr[c] * x[c]; c += 1 }
            y[r] = s
        }
    }

    static func rows4(_ w: UnsafePointer<Float>, _ range: Range<Int>, _ cols: Int,
                      _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ ys: Int) {
        for r in range {
            let wr = w + r * cols
            var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>(), a3 = SIMD8<Float>()
            var b0 = SIMD8<Float>(), b1 = SIMD8<Float>(), b2 = SIMD8<Float>(), b3 = SIMD8<Float>()
            var c = 0
            while c + 16 <= cols {
                let u = load(wr, c), v = load(wr, c + 8)
                a0 = a0.addingProduct(u, load(x, c)); b0 = b0.addingProduct(v, load(x, c + 8))
                a1 = a1.addingProduct(u, load(x, cols + c)); b1 = b1.addingProduct(v, load(x, cols + c + 8))
                a2 = a2.addingProduct(u, load(x, 2 * cols + c)); b2 = b2.addingProduct(v, load(x, 2 * cols + c + 8))
                a3 = a3.addingProduct(u, load(x, 3 * cols + c)); b3 = b3.addingProduct(v, load(x, 3 * cols + c + 8))
                c += 16
            }
            var s0 = (a0 + b0).sum(), s1 = (a1 + b1).sum(), s2 = (a2 + b2).sum(), s3 = (a3 + b3).sum()
            while c < cols {
                s0 += wr[c] * x[c]; s1 += wr[c] * x[cols + c]
                s2 += wr[c] * x[2 * cols + c]; s3 += wr[c] * x[3 * cols + c]
                c += 1
            }
            y[r] = s0; y[ys + r] = s1; y[2 * ys + r] = s2; y[3 * ys + r] = s3
        }
    }
}
