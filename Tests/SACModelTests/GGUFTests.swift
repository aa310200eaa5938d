import Foundation
import XCTest
@testable import SACModel
@testable import SACTensor

/// Locations and loaders of the weight fixtures (see scripts/make_weight_fixtures.py).
enum WeightFixtures {
    static func path(_ rel: String) -> String {
        Bundle.module.resourceURL!.appendingPathComponent("Fixtures").appendingPathComponent(rel).path
    }

    static func json(_ rel: String) throws -> [String: Any] {
        let data = try Data(contentsOf: URL(fileURLWithPath: path(rel)))
        return try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    static func floats(_ rel: String) throws -> [Float] {
        let data = try Data(contentsOf: URL(fileURLWithPath: path(rel)))
        return data.withUnsafeBytes { raw in
            (0..<data.count / 4).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self))) }
        }
    }

    /// The real SmolLM2 GGUF, or nil (the caller skips) — fails when SAC_REQUIRE_MODEL=1.
    static func realModelPath() throws -> String? {
        let home = ProcessInfo.processInfo.environment["SAC_HOME"] ?? (NSHomeDirectory() + "/.cache/sac")
        let p = home + "/models/SmolLM2-135M-Instruct.Q4_1.gguf"
        if FileManager.default.fileExists(atPath: p) { return p }
        if ProcessInfo.processInfo.environment["SAC_REQUIRE_MODEL"] == "1" {
            XCTFail("SAC_REQUIRE_MODEL=1 but \(p) is absent")
        }
        return nil
    }

    /// Bitwise equality of floats (NaNs with equal payloads compare equal).
    static func assertBitwiseEqual(_ a: [Float], _ b: [Float], _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.count, b.count, "\(what): count", file: file, line: line)
        var bad = 0
        for i in 0..<min(a.count, b.count) where a[i].bitPattern != b[i].bitPattern {
            if bad < 5 { XCTFail("\(what)[\(i)]: \(a[i]) != \(b[i])", file: file, line: line) }
            bad += 1
        }
        if bad > 0 { XCTFail("\(what): \(bad) of \(a.count) elements differ", file: file, line: line) }
    }
}

final class GGUFTests: XCTestCase {
    func testMetadataOfEveryType() throws {
        for name in ["gguf/types.gguf", "gguf/types_v2.gguf"] {
            let g = try GGUFFile(path: WeightFixtures.path(name))
            XCTAssertEqual(g.version, name.contains("v2") ? 2 : 3)
            XCTAssertEqual(g.alignment, 64)
            XCTAssertEqual(g.dataOffset % 64, 0)
            XCTAssertEqual(try g.string("general.architecture"), "sac-test")
            XCTAssertEqual(g.metadata["t.u8"], .uint8(200))
            XCTAssertEqual(g.metadata["t.i8"], .int8(-100))
            XCTAssertEqual(try g.int("t.u16"), 60000)
            XCTAssertEqual(try g.int("t.i16"), -30000)
            XCTAssertEqual(try g.int("t.u32"), 4_000_000_000)
            XCTAssertEqual(try g.int("t.i32"), -2_000_000_000)
            XCTAssertEqual(try g.int("t.u64"), (1 << 62) + 3)
            XCTAssertEqual(try g.int("t.i64"), -(1 << 61) - 5)
            XCTAssertEqual(try g.float("t.f32"), Double(Float(0.1)))
            XCTAssertEqual(try g.float("t.f64"), -1.25e-7)
            XCTAssertEqual(try g.bool("t.bool"), true)
            XCTAssertEqual(try g.string("t.str"), "héllo ✓")
            XCTAssertEqual(try g.stringArray("t.strs"), ["a", "", "ünï"])
            XCTAssertEqual(try g.intArray("t.ints"), [1, -2, 3])
            XCTAssertEqual(try g.floatArray("t.floats"), [0.5, -1.5])
            XCTAssertEqual(try g.arrayCount("t.strs"), 3)
            // Absent keys are nil; wrong types throw invalidField naming the key.
            XCTAssertNil(try g.string("t.absent"))
            XCTAssertNil(try g.int("t.absent"))
            XCTAssertNil(try g.stringArray("t.absent"))
            for (key, call) in [("t.str", { _ = try g.int("t.str") }), ("t.u8", { _ = try g.string("t.u8") }),
                                ("t.ints", { _ = try g.stringArray("t.ints") }), ("t.str", { _ = try g.bool("t.str") }),
                                ("t.strs", { _ = try g.floatArray("t.strs") }), ("t.f32", { _ = try g.intArray("t.f32") })]
                as [(String, () throws -> Void)] {
                XCTAssertThrowsError(try call()) { e in
                    guard case ModelError.invalidField(_, let field, _, _) = e else { return XCTFail("\(e)") }
                    XCTAssertEqual(field, key)
                }
            }
        }
    }

    func testTensorInfos() throws {
        let g = try GGUFFile(path: WeightFixtures.path("gguf/types.gguf"))
        let ref = try WeightFixtures.json("gguf/types_ref.json")
        let tensors = try XCTUnwrap(ref["tensors"] as? [[String: Any]])
        XCTAssertEqual(g.tensorNames, tensors.map { $0["name"] as! String })
        for t in tensors {
            let info = try XCTUnwrap(g.tensorInfo(t["name"] as! String))
            XCTAssertEqual(info.shape, t["shape"] as! [Int])
            XCTAssertEqual(info.dims, (t["shape"] as! [Int]).reversed())
            XCTAssertEqual(info.type.description, t["type"] as! String)
            XCTAssertEqual(info.offset % 64, 0)
        }
        XCTAssertNil(g.tensorInfo("nope"))
        XCTAssertThrowsError(try g.tensor("nope")) { e in
            XCTAssertEqual(e as? ModelError, .missingField(file: g.path, field: "nope"))
        }
    }

    func testBadHeadersThrowTypedErrors() throws {
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
        guard case .invalidField(_, "magic", _, _)? = load(d) else { return XCTFail("magic") }
        d = good
        d[4] = 1
        guard case .unsupported(_, "version", _)? = load(d) else { return XCTFail("version") }
        guard case .truncated? = load(good.prefix(6)) else { return XCTFail("truncated") }
        d = good
        d.replaceSubrange(8..<16, with: [UInt8](repeating: 0xFF, count: 8))  // tensor_count
        guard case .invalidField(_, "tensor_count", _, _)? = load(d) else { return XCTFail("count") }
        d = good
        d.replaceSubrange(16..<24, with: [0, 0, 0, 0, 0, 0, 0, 1])  // kv count 2^56
        guard case .invalidField(_, "metadata_kv_count", _, _)? = load(d) else { return XCTFail("kv count") }
        // Tensor data cut off (the file ends with < 64 bytes of padding).
        guard case .truncated(_, let f, _, _)? = load(good.prefix(good.count - 100)) else { return XCTFail("data") }
        XCTAssertTrue(f.hasSuffix(".data"), f)
        XCTAssertThrowsError(try GGUFFile(path: dir.appendingPathComponent("absent.gguf").path)) { e in
            guard case ModelError.unreadable? = e as? ModelError else { return XCTFail("\(e)") }
        }
    }

    func testRealModelMetadata() throws {
        guard let p = try WeightFixtures.realModelPath() else { throw XCTSkip("model absent") }
        let g = try GGUFFile(path: p)
        XCTAssertEqual(g.tensors.count, 272)
        XCTAssertEqual(try g.arrayCount("tokenizer.ggml.tokens"), 49152)
        XCTAssertEqual(try g.stringArray("tokenizer.ggml.merges")?.count, 48900)
        let c = try LlamaConfig(gguf: g)
        XCTAssertEqual(c.numLayers, 30)
        XCTAssertEqual(c.hiddenSize, 576)
        XCTAssertEqual(c.numHeads, 9)
        XCTAssertEqual(c.numKVHeads, 3)
        XCTAssertEqual(c.headDim, 64)
        XCTAssertEqual(c.intermediateSize, 1536)
        XCTAssertEqual(c.vocabSize, 49152)
        XCTAssertEqual(c.ropeTheta, 100000)
        XCTAssertEqual(c.rmsNormEps, 1e-5)
        XCTAssertEqual(c.maxPositionEmbeddings, 8192)
        XCTAssertTrue(c.tieWordEmbeddings)
        XCTAssertEqual(c.bosTokenId, 1)
        XCTAssertEqual(c.eosTokenId, 2)
    }
}
