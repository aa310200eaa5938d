import Foundation
import Testing
@testable import SACModel
@testable import SACTensor

@Suite struct WeightSourceTests {
    /// The F32 GGUF conversion of the tiny Llama (q/k rows permuted by convert_hf_to_gguf's
    /// rule) serves exactly the HF safetensors tensors under HF names: tests the name map
    /// and the RoPE row un-permutation (4 query heads, 2 KV heads). Exact equality.
    @Test func ggufEqualsHFDirectory() throws {
        let hf = try HFDirectoryWeightSource(directory: WeightFixtures.path("tiny-llama/f32"))
        let gg = try GGUFWeightSource(path: WeightFixtures.path("gguf/tiny-llama-f32.gguf"))
        #expect(Set(hf.tensorNames) == Set(gg.tensorNames))
        #expect(hf.tensorNames.count == 3 + 2 * 9)
        for name in hf.tensorNames {
            let a = try hf.tensor(name), b = try gg.tensor(name)
            #expect(a.shape == b.shape, "\(name)")
            WeightFixtures.assertBitwiseEqual(b.data, a.data, name)
            #expect(try gg.quantized(name) == nil, "\(name)")  // F32 storage
            #expect(try hf.quantized(name) == nil, "\(name)")
        }
        #expect(hf.config == gg.config.with(maxPositions: hf.config.maxPositionEmbeddings))
        #expect(throws: (any Error).self) { try gg.tensor("model.layers.2.mlp.up_proj.weight") }
        #expect(throws: (any Error).self) { try hf.tensor("model.layers.0.mlp.nope.weight") }
    }

    /// The Q8_0 GGUF: tensor() equals gguf-py's dequantisation of each HF tensor exactly, and
    /// quantized() gives rows in HF order whose dequantisation is the same.
    @Test func quantizedGGUF() throws {
        let gg = try GGUFWeightSource(path: WeightFixtures.path("gguf/tiny-llama-q8_0.gguf"))
        let ref = try WeightFixtures.json("gguf/tiny-llama-q8_0_ref.json")
        let all = try WeightFixtures.floats("gguf/tiny-llama-q8_0_ref_f32le.bin")
        let entries = try #require(ref["tensors"] as? [[String: Any]])
        #expect(entries.count == 1 + 1 + 2 * 7)
        for e in entries {
            let name = e["name"] as! String, shape = e["shape"] as! [Int], off = e["offset"] as! Int
            let expect = Array(all[off..<off + shape[0] * shape[1]])
            let t = try gg.tensor(name)
            #expect(t.shape == shape)
            WeightFixtures.assertBitwiseEqual(t.data, expect, name)
            let q = try #require(try gg.quantized(name), "\(name)")
            #expect(q.type == GGMLType.q8_0)
            #expect([q.rows, q.cols] == shape)
            #expect(q.bytesPerRow == shape[1] / 32 * 34)
            #expect(q.bytes.count == q.rows * q.bytesPerRow)
            WeightFixtures.assertBitwiseEqual(try q.dequantized().data, expect, name + " (quantized)")
            // Row accessor: the last row alone dequantises to the last row of the reference.
            let last = try Dequantize.toFloats(.q8_0, bytes: q.row(q.rows - 1), count: q.cols)
            WeightFixtures.assertBitwiseEqual(last, Array(expect.suffix(q.cols)), name + " last row")
        }
        #expect(try gg.quantized("model.norm.weight") == nil)
    }

    /// The row map inverts convert_hf_to_gguf's permute for head counts 1...5 and head dims
    /// 2, 4, 64 (checked against a direct transcription of reshape/swapaxes).
    @Test func rowPermutationInverse() {
        for heads in 1...5 {
            for hd in [2, 4, 64] {
                let rows = heads * hd, half = hd / 2
                // permute: gguf[h, i, j] = hf[h, j, i] with shapes (heads, half, 2) / (heads, 2, half).
                var ggufToHF = [Int](repeating: -1, count: rows)
                for h in 0..<heads { for i in 0..<half { for j in 0..<2 { ggufToHF[h * hd + i * 2 + j] = h * hd + j * half + i } } }
                for r in 0..<rows {
                    #expect(ggufToHF[GGUFWeightSource.ggufRow(r, rows: rows, heads: heads)] == r)
                }
            }
        }
    }

    /// Rows of the real SmolLM2 Q4_1 GGUF equal transformers' dequantised HF weights
    /// (rows of layer 0/29 q_proj and k_proj incl. rows 64..66 across a head boundary, other
    /// projections, Q8_0 embedding, norms). Exact equality (gguf-py computes d·q + m unfused).
    /// Needs the real model; returns early when it is absent (fails if SAC_REQUIRE_MODEL=1).
    @Test func realModelRowsMatchTransformers() throws {
        guard let p = try WeightFixtures.realModelPath() else { return }
        let gg = try GGUFWeightSource(path: p)
        #expect(!gg.tensorNames.contains("lm_head.weight"))
        #expect(gg.tensorNames.count == 2 + 30 * 9)
        let ref = try WeightFixtures.json("gguf/smollm2_rows.json")
        #expect((ref["tied"] as? Bool) == true)
        let all = try WeightFixtures.floats("gguf/smollm2_rows_f32le.bin")
        var cache: [String: Tensor] = [:]
        for e in try #require(ref["rows"] as? [[String: Any]]) {
            let name = e["name"] as! String, row = e["row"] as! Int, n = e["count"] as! Int, off = e["offset"] as! Int
            let t = try cache[name] ?? gg.tensor(name)
            cache[name] = t
            #expect(t.shape == (e["shape"] as! [Int]), "\(name)")
            let got = row < 0 ? t.data : Array(t.data[row * n..<(row + 1) * n])
            WeightFixtures.assertBitwiseEqual(got, Array(all[off..<off + n]), "\(name)[\(row)]")
        }
        let q = try #require(try gg.quantized("model.layers.0.self_attn.k_proj.weight"))
        #expect(q.type == GGMLType.q4_1)
        let layout = [q.rows, q.cols, q.bytesPerRow]
        #expect(layout == [192, 576, 576 / 32 * 20])
    }

    @Test func openWeightSourceDispatch() throws {
        #expect(try openWeightSource(path: WeightFixtures.path("tiny-llama/bf16-sharded")) is HFDirectoryWeightSource)
        #expect(try openWeightSource(path: WeightFixtures.path("gguf/tiny-llama-f32.gguf")) is GGUFWeightSource)
        if let e = #expect(throws: ModelError.self, performing: { try openWeightSource(path: "/nonexistent/model") }) {
            if case .unreadable = e {} else { Issue.record("\(e)") }
        }
        // types.gguf is not a llama file.
        if let e = #expect(throws: ModelError.self, performing: { try openWeightSource(path: WeightFixtures.path("gguf/types.gguf")) }) {
            if case .unsupported(_, "general.architecture", _) = e {} else { Issue.record("\(e)") }
        }
    }
}

extension LlamaConfig {
    func with(maxPositions: Int) -> LlamaConfig {
        var c = self
        c.maxPositionEmbeddings = maxPositions
        return c
    }
}
