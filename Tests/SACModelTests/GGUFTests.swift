import Foundation
import Testing
@testable import SACModel
@testable import SACTensor

/// Locations and loaders of the weight fixtures (see scripts/make_weight_fixtures.py).
enum WeightFixtures {
    static func path(_ rel: String) -> String {
        Bundle.module.resourceURL!.appendingPathComponent("Fixtures").appendingPathComponent(rel).path
    }

    static func json(_ rel: String) throws -> [String: Any] {
        let data = try Data(contentsOf: URL(fileURLWithPath: path(rel)))
        return try #require(JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    static func floats(_ rel: String) throws -> [Float] {
        let data = try Data(contentsOf: URL(fileURLWithPath: path(rel)))
        return data.withUnsafeBytes { raw in
            (0..<data.count / 4).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self))) }
        }
    }

    /// The real SmolLM2 GGUF, or nil (the caller returns early) — records a failure when
    /// SAC_REQUIRE_MODEL=1.
    static func realModelPath(sourceLocation: SourceLocation = #_sourceLocation) throws -> String? {
        let home = ProcessInfo.processInfo.environment["SAC_HOME"] ?? (NSHomeDirectory() + "/.cache/sac")
        let p = home + "/models/SmolLM2-135M-Instruct.Q4_1.gguf"
        if FileManager.default.fileExists(atPath: p) { return p }
        if ProcessInfo.processInfo.environment["SAC_REQUIRE_MODEL"] == "1" {
            Issue.record("SAC_REQUIRE_MODEL=1 but \(p) is absent", sourceLocation: sourceLocation)
        }
        return nil
    }

    /// Bitwise equality of floats (NaNs with equal payloads compare equal).
    static func assertBitwiseEqual(_ a: [Float], _ b: [Float], _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(a.count == b.count, "\(what): count", sourceLocation: sourceLocation)
        var bad = 0
        for i in 0..<min(a.count, b.count) where a[i].bitPattern != b[i].bitPattern {
            if bad < 5 { Issue.record("\(what)[\(i)]: \(a[i]) != \(b[i])", sourceLocation: sourceLocation) }
            bad += 1
        }
        if bad > 0 { Issue.record("\(what): \(bad) of \(a.count) elements differ", sourceLocation: sourceLocation) }
    }
}

@Suite struct GGUFTests {
    @Test func metadataOfEveryType() throws {
        for name in ["gguf/types.gguf", "gguf/types_v2.gguf"] {
            let g = try GGUFFile(path: WeightFixtures.path(name))
            #expect(g.version == (name.contains("v2") ? 2 : 3))
            #expect(g.alignment == 64)
            #expect(g.dataOffset % 64 == 0)
            #expect(try g.string("general.architecture") == "sac-test")
            #expect(g.metadata["t.u8"] == GGUFValue.uint8(200))
            #expect(g.metadata["t.i8"] == GGUFValue.int8(-100))
            #expect(try g.int("t.u16") == 60000)
            #expect(try g.int("t.i16") == -30000)
            #expect(try g.int("t.u32") == 4_000_000_000)
            #expect(try g.int("t.i32") == -2_000_000_000)
            #expect(try g.int("t.u64") == (1 << 62) + 3)
            #expect(try g.int("t.i64") == -(1 << 61) - 5)
            #expect(try g.float("t.f32") == Double(Float(0.1)))
            #expect(try g.float("t.f64") == -1.25e-7)
            #expect(try g.bool("t.bool") == true)
            #expect(try g.string("t.str") == "héllo ✓")
            #expect(try g.stringArray("t.strs") == ["a", "", "ünï"])
            #expect(try g.intArray("t.ints") == [1, -2, 3])
            #expect(try g.floatArray("t.floats") == [0.5, -1.5])
            #expect(try g.arrayCount("t.strs") == 3)
            // Absent keys are nil; wrong types throw invalidField naming the key.
            #expect(try g.string("t.absent") == nil)
            #expect(try g.int("t.absent") == nil)
            #expect(try g.stringArray("t.absent") == nil)
            for (key, call) in [("t.str", { _ = try g.int("t.str") }), ("t.u8", { _ = try g.string("t.u8") }),
                                ("t.ints", { _ = try g.stringArray("t.ints") }), ("t.str", { _ = try g.bool("t.str") }),
                                ("t.strs", { _ = try g.floatArray("t.strs") }), ("t.f32", { _ = try g.intArray("t.f32") })]
                as [(String, () throws -> Void)] {
                if let e = #expect(throws: ModelError.self, performing: { try call() }) {
                    guard case .invalidField(_, let field, _, _) = e else { Issue.record("\(e)"); continue }
                    #expect(field == key)
                }
            }
        }
    }

    @Test func tensorInfos() throws {
        let g = try GGUFFile(path: WeightFixtures.path("gguf/types.gguf"))
        let ref = try WeightFixtures.json("gguf/types_ref.json")
        let tensors = try #require(ref["tensors"] as? [[String: Any]])
        #expect(g.tensorNames == tensors.map { $0["name"] as! String })
        for t in tensors {
            let info = try #require(g.tensorInfo(t["name"] as! String))
            let shape = t["shape"] as! [Int]
            #expect(info.shape == shape)
            #expect(info.dims == Array(shape.reversed()))
            #expect(info.type.description == (t["type"] as! String))
            #expect(info.offset % 64 == 0)
        }
        #expect(g.tensorInfo("nope") == nil)
        #expect(throws: ModelError.missingField(file: g.path, field: "nope")) { try g.tensor("nope") }
    }

    @Test func badHeadersThrowTypedErrors() throws {
        let good = try Data(contentsOf: URL(fileURLWithPath: WeightFixtures.path("gguf/types.gguf")))
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sac-gguf-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        func load(_ d: Data) -> ModelError? {
            let p = dir.appendingPathComponent("x.gguf").path
            try! d.write(to: URL(fileURLWithPath: p))
            do { _ = try GGUFFile(path: p); return nil } catch { return error as? ModelError }
        }
        var d = good
        d[0] = UInt8(ascii: "X")
        guard case .invalidField(_, "magic", _, _)? = load(d) else { Issue.record("magic"); return }
        d = good
        d[4] = 1
        guard case .unsupported(_, "version", _)? = load(d) else { Issue.record("version"); return }
        guard case .truncated? = load(good.prefix(6)) else { Issue.record("truncated"); return }
        d = good
        d.replaceSubrange(8..<16, with: [UInt8](repeating: 0xFF, count: 8))  // tensor_count
        guard case .invalidField(_, "tensor_count", _, _)? = load(d) else { Issue.record("count"); return }
        d = good
        d.replaceSubrange(16..<24, with: [0, 0, 0, 0, 0, 0, 0, 1])  // kv count 2^56
        guard case .invalidField(_, "metadata_kv_count", _, _)? = load(d) else { Issue.record("kv count"); return }
        // Tensor data cut off (the file ends with < 64 bytes of padding).
        guard case .truncated(_, let f, _, _)? = load(good.prefix(good.count - 100)) else { Issue.record("data"); return }
        #expect(f.hasSuffix(".data"), "\(f)")
        if let e = #expect(throws: ModelError.self, performing: {
            try GGUFFile(path: dir.appendingPathComponent("absent.gguf").path)
        }) {
            guard case .unreadable = e else { Issue.record("\(e)"); return }
        }
    }

    /// Needs the real model; returns early when it is absent (fails if SAC_REQUIRE_MODEL=1).
    @Test func realModelMetadata() throws {
        guard let p = try WeightFixtures.realModelPath() else { return }
        let g = try GGUFFile(path: p)
        #expect(g.tensors.count == 272)
        #expect(try g.arrayCount("tokenizer.ggml.tokens") == 49152)
        #expect(try g.stringArray("tokenizer.ggml.merges")?.count == 48900)
        let c = try LlamaConfig(gguf: g)
        #expect(c.numLayers == 30)
        #expect(c.hiddenSize == 576)
        #expect(c.numHeads == 9)
        #expect(c.numKVHeads == 3)
        #expect(c.headDim == 64)
        #expect(c.intermediateSize == 1536)
        #expect(c.vocabSize == 49152)
        #expect(c.ropeTheta == 100000)
        #expect(c.rmsNormEps == 1e-5)
        #expect(c.maxPositionEmbeddings == 8192)
        #expect(c.tieWordEmbeddings)
        #expect(c.bosTokenId == 1)
        #expect(c.eosTokenId == 2)
    }
}
