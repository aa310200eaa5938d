import Foundation
import Testing
@testable import SACModel
@testable import SACTensor

/// `.serialized`: kernelsMatchScalarReference sets the global `Parallel.threads`, which the
/// other tests here read.
@Suite(.serialized) struct DequantizeTests {
    /// Every tensor of types.gguf dequantises bit-for-bit to gguf-py's result
    /// (F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q4_K, Q6_K at awkward shapes, 1 to 5 rows).
    @Test func matchesGGUFPyExactly() throws {
        let g = try GGUFFile(path: WeightFixtures.path("gguf/types.gguf"))
        let ref = try WeightFixtures.json("gguf/types_ref.json")
        let all = try WeightFixtures.floats("gguf/types_ref_f32le.bin")
        var seen = Set<String>()
        for t in try #require(ref["tensors"] as? [[String: Any]]) {
            let name = t["name"] as! String
            let off = t["offset"] as! Int, n = t["count"] as! Int
            let got = try g.tensor(name)
            #expect(got.shape == (t["shape"] as! [Int]), "\(name)")
            WeightFixtures.assertBitwiseEqual(got.data, Array(all[off..<off + n]), name)
            seen.insert(t["type"] as! String)
        }
        #expect(seen == Set(["F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q4_K", "Q6_K"]))
    }

    // MARK: Scalar references (Float32, same operation order as gguf-py), random blocks.

    func f16(_ p: [UInt8], _ o: Int) -> Float { Float(Float16(bitPattern: UInt16(p[o]) | UInt16(p[o + 1]) << 8)) }

    func refBlock(_ type: GGMLType, _ b: [UInt8]) -> [Float] {
        var y = [Float](repeating: .nan, count: type.blockSize)
        switch type {
        case .q8_0:
            for j in 0..<32 { y[j] = Float(Int8(bitPattern: b[2 + j])) * f16(b, 0) }
        case .q4_0:
            for j in 0..<16 {
                y[j] = f16(b, 0) * Float(Int(b[2 + j] & 15) - 8)
                y[j + 16] = f16(b, 0) * Float(Int(b[2 + j] >> 4) - 8)
            }
        case .q4_1:
            for j in 0..<16 {
                let lo: Float = f16(b, 0) * Float(b[4 + j] & 15), hi: Float = f16(b, 0) * Float(b[4 + j] >> 4)
                y[j] = lo + f16(b, 2)
                y[j + 16] = hi + f16(b, 2)
            }
        case .q4_K:
            let s = Array(b[4..<16])
            for j in 0..<8 {
                let sc = j < 4 ? s[j] & 63 : (s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4)
                let m = j < 4 ? s[j + 4] & 63 : (s[j + 4] >> 4) | ((s[j] >> 6) << 4)
                let d: Float = f16(b, 0) * Float(sc), dm: Float = f16(b, 2) * Float(m)
                for l in 0..<32 {
                    let byte = b[16 + 32 * (j / 2) + l]
                    let q = j % 2 == 0 ? byte & 15 : byte >> 4
                    let prod: Float = d * Float(q)
                    y[32 * j + l] = prod - dm
                }
            }
        case .q6_K:
            let d = f16(b, 208)
            for e in 0..<256 {
                let g = e / 128, w = e % 128
                let lo = (b[64 * g + w % 64] >> (4 * UInt8(w / 64))) & 15
                let hi = (b[128 + 32 * g + w % 32] >> (2 * UInt8(w / 32))) & 3
                let q = Int(lo | hi << 4) - 32
                let ds: Float = d * Float(Int8(bitPattern: b[192 + e / 16]))
                y[e] = ds * Float(q)
            }
        default: Issue.record("no reference for \(type)")
        }
        return y
    }

    func randomBlocks(_ type: GGMLType, _ n: Int, _ rng: inout SplitMix64) -> [UInt8] {
        var bytes = (0..<n * type.typeSize).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let scaleOffsets: [Int] = type == .q6_K ? [208] : type == .q4_1 || type == .q4_K ? [0, 2] : [0]
        for blk in 0..<n {
            for o in scaleOffsets {
                let bits = Float16(Float.random(in: -0.1...0.1, using: &rng)).bitPattern
                bytes[blk * type.typeSize + o] = UInt8(bits & 0xFF)
                bytes[blk * type.typeSize + o + 1] = UInt8(bits >> 8)
            }
        }
        return bytes
    }

    /// The threaded SIMD kernels equal the scalar references exactly, for 1, 7 and 37 blocks,
    /// with 1 and 2 threads, from an odd (unaligned) source address.
    @Test func kernelsMatchScalarReference() throws {
        var rng = SplitMix64(seed: 7)
        let saved = Parallel.threads
        defer { Parallel.threads = saved }
        for type in [GGMLType.q8_0, .q4_0, .q4_1, .q4_K, .q6_K] {
            for n in [1, 7, 37, 301] {
                let bytes = randomBlocks(type, n, &rng)
                var expect: [Float] = []
                for blk in 0..<n { expect += refBlock(type, Array(bytes[blk * type.typeSize..<(blk + 1) * type.typeSize])) }
                for threads in [1, 2] {
                    Parallel.threads = threads
                    let padded = [UInt8(0)] + bytes  // odd address
                    let got = try padded.withUnsafeBytes { raw in
                        try Dequantize.toFloats(type, bytes: UnsafeRawBufferPointer(rebasing: raw[1...]), count: n * type.blockSize)
                    }
                    WeightFixtures.assertBitwiseEqual(got, expect, "\(type) n=\(n) threads=\(threads)")
                }
            }
        }
    }

    /// F16 and BF16 conversions equal Float(Float16) and the bit shift for every bit pattern,
    /// through the SIMD path (lengths 65536 and an odd tail).
    @Test func halfConversionsAllPatterns() throws {
        let bits = (0...UInt16.max).map { $0 }
        for (type, conv) in [(GGMLType.f16, { (b: UInt16) in Float(Float16(bitPattern: b)) }),
                             (GGMLType.bf16, { (b: UInt16) in Float(bitPattern: UInt32(b) << 16) })] {
            for n in [65536, 13] {
                let got = try bits.withUnsafeBytes { try Dequantize.toFloats(type, bytes: $0, count: n) }
                WeightFixtures.assertBitwiseEqual(got, bits.prefix(n).map(conv), "\(type) n=\(n)")
            }
        }
    }

    @Test func typedErrors() throws {
        let bytes = [UInt8](repeating: 1, count: 40)
        bytes.withUnsafeBytes { raw in
            if let e = #expect(throws: ModelError.self, performing: { try Dequantize.toFloats(.q5_K, bytes: raw, count: 256) }) {
                if case .unsupported = e {} else { Issue.record("\(e)") }
            }
            if let e = #expect(throws: ModelError.self, performing: { try Dequantize.toFloats(.q8_0, bytes: raw, count: 31) }) {
                if case .invalidField = e {} else { Issue.record("\(e)") }
            }
            if let e = #expect(throws: ModelError.self, performing: { try Dequantize.toFloats(.q8_0, bytes: raw, count: 64) }) {
                if case .truncated = e {} else { Issue.record("\(e)") }
            }
        }
    }
}
