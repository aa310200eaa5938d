import Foundation
import SACCompression
import SACModel
import SACTensor
import Testing

@Suite struct MemoryTests {
    static func tmp(_ name: String) -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sac-tests-\(getpid())")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir.appendingPathComponent(name).path
    }

    /// `full` with a zero adapter is the base model reading the context causally at
    /// positions 1…N: its memory is exactly the inference cache.
    @Test func fullMemoryWithZeroAdapterIsTheCache() throws {
        let model = try Tiny.model()
        let comp = try Compressor(model: model, settings: CompressorSettings(method: .full, ratio: 1, lora: LoRAConfig(rank: 2, alpha: 4)))
        let ids = Tiny.ids(23, seed: 2)
        let mem = try comp.compress(ids)
        let cache = model.makeCache()
        _ = try model.forward(ids, positions: (1...23).map { Int32($0) }, cache: cache, logits: .none)
        for l in 0..<2 {
            let ref = cache.layer(l)
            #expect(zip(mem.keys[l], ref.keys).allSatisfy { abs($0 - $1) <= 1e-5 })
            #expect(zip(mem.values[l], ref.values).allSatisfy { abs($0 - $1) <= 1e-5 })
        }
        #expect(mem.decoderStart == 23 && mem.carriers == 23)
    }

    /// The decoder's greedy first token is the argmax of the training path's logits: both
    /// read the same memory, [LM] and question at the same positions.
    @Test func answerMatchesTrainingPathLoss() throws {
        let model = try Tiny.model()
        for method in [CompressionMethod.sac, .icae, .x500] {
            let comp = try Compressor(model: model, settings: CompressorSettings(method: method, ratio: 3, chunkSize: 10, lora: LoRAConfig(rank: 2, alpha: 4)))
            try Tiny.perturbLoRA(comp)
            let ctx = Tiny.ids(25, seed: 5), q: [Int32] = [7, 8, 9]
            let mem = try comp.compress(ctx)
            let res = try MemoryDecoder(model: model).answer(memory: mem, question: q, maxTokens: 1, stopTokens: [])
            // The loss of predicting token t after the question is smallest for the argmax.
            var best = (Double.infinity, Int32(-1))
            for t in Int32(0)..<Int32(41) {
                let seq = DecoderSequence(soft: .lm, ids: q, targets: [-100, -100, -100, t])
                let l = try comp.loss(context: ctx, decoder: seq, backward: false).lossSum
                if l < best.0 { best = (l, t) }
            }
            #expect(res.ids == [best.1], "\(method)")
        }
    }

    @Test func roundTripAndCorruption() throws {
        let model = try Tiny.model()
        for method in [CompressionMethod.sac, .icae, .tokens] {
            let comp = try Compressor(model: model, settings: CompressorSettings(method: method, ratio: 4, chunkSize: 12, lora: LoRAConfig(rank: 2, alpha: 4)))
            let mem = try comp.compress(Tiny.ids(30, seed: 1))
            let path = Self.tmp("mem-\(method.rawValue).safetensors")
            try mem.write(to: path)
            let back = try CompressedMemory(contentsOf: path)
            #expect(try back == mem.rounded(to: .f16) && back.dtype == .f16)
            #expect(mem.achievedRatio > 3)
            // Every dtype reads back as the rounding it stores; F32 exactly.
            for dtype in MemoryDType.allCases {
                try mem.write(to: path, dtype: dtype)
                let b = try CompressedMemory(contentsOf: path)
                #expect(try b == mem.rounded(to: dtype) && b.dtype == dtype, "\(method) \(dtype)")
                #expect(b.lmToken == mem.lmToken && b.carrierPositions == mem.carrierPositions)
            }
            #expect(try CompressedMemory(contentsOf: path) == mem)  // the last one was F32
        }
        let bad = Self.tmp("garbage.safetensors")
        try Data("not a safetensors file at all".utf8).write(to: URL(fileURLWithPath: bad))
        #expect(throws: CompressionError.self) { try CompressedMemory(contentsOf: bad) }
        // A plain safetensors file without the memory metadata.
        let plain = Self.tmp("plain.safetensors")
        try SafetensorsWriter.write(["x": Tensor(zeros: [2])], to: plain)
        #expect(throws: CompressionError.self) { try CompressedMemory(contentsOf: plain) }
    }

    /// F16 halves the stored carrier data and rounds each value once (relative error ≤ 2⁻¹¹
    /// in the normal range); a value beyond F16's range is refused with the field named; a
    /// file written before the dtype was recorded (F32, no `dtype` field) still loads.
    @Test func sixteenBitMemories() throws {
        let model = try Tiny.model()
        let comp = try Compressor(model: model, settings: CompressorSettings(method: .sac, ratio: 4, chunkSize: 12, lora: LoRAConfig(rank: 2, alpha: 4)))
        let mem = try comp.compress(Tiny.ids(30, seed: 5))
        let f16 = Self.tmp("m16.safetensors"), f32 = Self.tmp("m32.safetensors")
        try mem.write(to: f16)
        try mem.write(to: f32, dtype: .f32)
        let s16 = try FileManager.default.attributesOfItem(atPath: f16)[.size] as! Int
        let s32 = try FileManager.default.attributesOfItem(atPath: f32)[.size] as! Int
        #expect(mem.byteCount(stored: .f16) * 2 == mem.byteCount(stored: .f32))
        #expect(Double(s16) < 0.6 * Double(s32))
        let back = try CompressedMemory(contentsOf: f16)
        var worst: Float = 0
        for (a, b) in zip(mem.keys + mem.values, back.keys + back.values) {
            for (x, y) in zip(a, b) where abs(x) > 1e-4 { worst = max(worst, abs(x - y) / abs(x)) }
        }
        #expect(worst > 0 && worst <= 1.0 / 2048, "relative rounding \(worst)")
        // Beyond F16's range.
        var big = mem
        big.values[1][3] = 1e6
        #expect(throws: (any Error).self) { try big.write(to: Self.tmp("big.safetensors")) }
        #expect(throws: CompressionError.self) { _ = try big.rounded(to: .f16) }
        #expect(try big.rounded(to: .bf16).values[1][3] == 999_424)
        // An old file: F32 tensors, no dtype in the metadata.
        let old = Self.tmp("old.safetensors")
        let file = try SafetensorsFile(path: f32)
        var tensors: [String: Tensor] = [:]
        for name in file.tensors.keys { tensors[name] = try file.tensor(name) }
        var meta = file.metadata
        meta["dtype"] = nil
        try SafetensorsWriter.write(tensors, metadata: meta, to: old)
        let o = try CompressedMemory(contentsOf: old)
        #expect(o == mem && o.dtype == .f32)
        // An unknown dtype is named.
        meta["dtype"] = "f8"
        try SafetensorsWriter.write(tensors, metadata: meta, to: old)
        #expect(throws: CompressionError.self) { try CompressedMemory(contentsOf: old) }
    }

    @Test func memoryFromAnotherModelIsRejected() throws {
        let a = try Tiny.model(seed: 7), b = try Tiny.model(seed: 8)
        let mem = try Compressor(model: a, settings: CompressorSettings(method: .sac, ratio: 4, lora: LoRAConfig(rank: 2, alpha: 4)))
            .compress(Tiny.ids(20, seed: 1))
        #expect(throws: CompressionError.self) {
            try MemoryDecoder(model: b).answer(memory: mem, question: [3], maxTokens: 2, stopTokens: [])
        }
        #expect(throws: CompressionError.emptyInput(what: "question")) {
            try MemoryDecoder(model: a).answer(memory: mem, question: [], maxTokens: 2, stopTokens: [])
        }
    }

    @Test func adapterRoundTripAndMismatches() throws {
        let model = try Tiny.model()
        let comp = try Compressor(model: model, settings: CompressorSettings(method: .sac, ratio: 4, lora: LoRAConfig(rank: 2, alpha: 4)), seed: 3)
        try Tiny.perturbLoRA(comp)
        let dir = Self.tmp("adapter-\(UUID().uuidString)")
        try comp.saveAdapter(to: dir, modelName: "tiny")
        let back = try Compressor.load(adapter: dir, model: model)
        #expect(back.adapterIdentity == comp.adapterIdentity)
        let ids = Tiny.ids(30, seed: 3)
        #expect(try back.compress(ids) == comp.compress(ids))
        // Another model.
        #expect(throws: CompressionError.self) { try Compressor.load(adapter: dir, model: Tiny.model(seed: 9)) }
        // Weights replaced by another adapter's: the manifest no longer matches.
        let other = try Compressor(model: model, settings: comp.settings, seed: 99)
        let dir2 = Self.tmp("adapter2-\(UUID().uuidString)")
        try other.saveAdapter(to: dir2, modelName: "tiny")
        try FileManager.default.removeItem(atPath: dir + "/adapter_model.safetensors")
        try FileManager.default.copyItem(atPath: dir2 + "/adapter_model.safetensors", toPath: dir + "/adapter_model.safetensors")
        #expect(throws: CompressionError.self) { try Compressor.load(adapter: dir, model: model) }
        #expect(throws: CompressionError.self) { try Compressor.load(adapter: Self.tmp("nowhere"), model: model) }
    }

    /// The cached identity follows every way a parameter's value can change (assign, a
    /// mutable value pointer, an optimiser step) and equals a fresh compressor's for the same
    /// values.
    @Test func adapterIdentityFollowsEveryChange() throws {
        let model = try Tiny.model()
        let settings = CompressorSettings(method: .sac, ratio: 4, lora: LoRAConfig(rank: 2, alpha: 4))
        let comp = try Compressor(model: model, settings: settings, seed: 3)
        let id0 = comp.adapterIdentity
        #expect(comp.adapterIdentity == id0)
        #expect(try Compressor(model: model, settings: settings, seed: 3).adapterIdentity == id0)
        let p = comp.parameters[0]
        let original = p.value
        var changed = original
        changed.data[0] += 0.5
        try p.assign(changed)
        let id1 = comp.adapterIdentity
        #expect(id1 != id0)
        p.withMutableValue { $0[0] -= 0.5 }
        #expect(p.value == original)
        #expect(comp.adapterIdentity == id0)
        p.withMutableGrad { $0[0] = 1 }
        let opt = try AdamW(parameters: comp.parameters, lr: 1e-2)
        opt.step()
        #expect(comp.adapterIdentity != id0)
        let reloaded = try Compressor(model: model, settings: settings, seed: 3)
        for (a, b) in zip(reloaded.parameters, comp.parameters) { try a.assign(b.value) }
        #expect(reloaded.adapterIdentity == comp.adapterIdentity)
    }

    /// The encoder's last two layers at the carrier rows only (the default) give the same
    /// memory as the encoder over every row: SAC bidirectional over several chunks, where it
    /// applies, and EPL (causal: every row either way).
    @Test(arguments: [CompressionMethod.sac, .epl]) func carrierRowsGiveTheSameMemory(method: CompressionMethod) throws {
        let model = try Tiny.model()
        let comp = try Compressor(
            model: model, settings: CompressorSettings(method: method, ratio: 4, chunkSize: 16, lora: LoRAConfig(rank: 2, alpha: 4)),
            seed: 3)
        try Tiny.perturbLoRA(comp)
        let ids = Tiny.ids(41, seed: 5)
        #expect(comp.encoderAtCarrierRows)
        let pruned = try comp.compress(ids)
        comp.encoderAtCarrierRows = false
        let full = try comp.compress(ids)
        #expect(pruned.carriers == full.carriers && pruned.carriers > 3)
        for l in 0..<model.config.numLayers {
            for (a, b) in [(pruned.keys[l], full.keys[l]), (pruned.values[l], full.values[l])] {
                let scale = max(1e-3, b.map { abs($0) }.max() ?? 0)
                let worst = zip(a, b).map { abs($0 - $1) }.max() ?? 0
                // Float32 sums over fewer rows: agreement to 1e-5 relative.
                #expect(a.count == b.count && worst <= 1e-5 * scale, "layer \(l): max difference \(worst)")
            }
        }
    }

    /// An adapter written in F16 is about half the size, reloads with the same identity and
    /// values, and compresses exactly as the in-memory compressor (whose values were rounded).
    @Test func adapterInHalfPrecision() throws {
        let model = try Tiny.model()
        let comp = try Compressor(model: model, settings: CompressorSettings(method: .sac, ratio: 4, lora: LoRAConfig(rank: 2, alpha: 4)), seed: 3)
        try Tiny.perturbLoRA(comp)
        let full = comp.parameters.map { $0.value.data }
        let dir32 = Self.tmp("adapter32-\(UUID().uuidString)"), dir16 = Self.tmp("adapter16-\(UUID().uuidString)")
        try comp.saveAdapter(to: dir32, modelName: "tiny")
        let id32 = comp.adapterIdentity
        try comp.saveAdapter(to: dir16, modelName: "tiny", dtype: .F16)
        #expect(comp.adapterIdentity != id32)
        for (p, x) in zip(comp.parameters, full) {
            #expect(p.value.data == x.map { Float(Float16($0)) }, "\(p.name)")
            #expect(p.value.data != x, "\(p.name) was not rounded")
        }
        let size = { (d: String) in try FileManager.default.attributesOfItem(atPath: d + "/adapter_model.safetensors")[.size] as! Int }
        #expect(try Double(size(dir16)) < 0.6 * Double(size(dir32)))
        let back = try Compressor.load(adapter: dir16, model: model)
        #expect(back.adapterIdentity == comp.adapterIdentity)
        let ids = Tiny.ids(30, seed: 4)
        #expect(try back.compress(ids) == comp.compress(ids))
        #expect(throws: CompressionError.self) { try comp.saveAdapter(to: dir16, modelName: "tiny", dtype: .I8) }
        // A value F16 cannot hold: an error, and no parameter is rounded.
        let before = comp.parameters.map { $0.value.data }
        let last = comp.parameters.last!
        last.withMutableValue { $0[0] = 1e6 }
        comp.parameters.first!.withMutableValue { $0[0] = 0.1 }  // not representable in F16
        let kept = comp.parameters.map { $0.value.data }
        #expect(throws: CompressionError.self) { try comp.saveAdapter(to: dir16, modelName: "tiny", dtype: .F16) }
        #expect(comp.parameters.map { $0.value.data } == kept)
        #expect(kept != before)
    }
}
