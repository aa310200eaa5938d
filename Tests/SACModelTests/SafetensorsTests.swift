import Foundation
import Testing
@testable import SACModel
@testable import SACTensor

@Suite final class SafetensorsTests {
    /// A fresh temporary directory per test (each test gets its own suite instance).
    let tmp: URL

    init() throws {
        tmp = FileManager.default.temporaryDirectory.appendingPathComponent("sac-st-\(getpid())-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
    }

    deinit {
        try? FileManager.default.removeItem(at: tmp)
    }

    /// The bf16 sharded directory (index + 2 shards) holds exactly the f32 model's tensors
    /// rounded to bfloat16 (round to nearest even, computed here on the bits).
    @Test func shardedBF16EqualsRoundedF32() throws {
        let f32 = try HFDirectoryWeightSource(directory: WeightFixtures.path("tiny-llama/f32"))
        let bf = try HFDirectoryWeightSource(directory: WeightFixtures.path("tiny-llama/bf16-sharded"))
        #expect(f32.tensorNames == bf.tensorNames)
        for name in f32.tensorNames {
            let a = try f32.tensor(name), b = try bf.tensor(name)
            #expect(a.shape == b.shape)
            let rounded = a.data.map { x -> Float in
                let u = x.bitPattern
                return Float(bitPattern: (u &+ 0x7FFF &+ ((u >> 16) & 1)) & 0xFFFF_0000)
            }
            WeightFixtures.assertBitwiseEqual(b.data, rounded, name)
        }
    }

    /// Write → read round trip at awkward shapes (scalar, 1, 7×13, 0 elements) with metadata;
    /// the header is padded to a multiple of 8 and no temporary file is left behind.
    @Test func writerRoundTrip() throws {
        var rng = SplitMix64(seed: 11)
        let tensors: [String: Tensor] = [
            "a.weight": Tensor(randomNormal: [7, 13], using: &rng),
            "b": Tensor(randomNormal: [1], using: &rng),
            "scalar": Tensor(randomNormal: [], using: &rng),
            "empty": Tensor(zeros: [0, 3]),
            "z.3d": Tensor(randomNormal: [2, 3, 5], using: &rng),
        ]
        let path = tmp.appendingPathComponent("adapter.safetensors").path
        try SafetensorsWriter.write(tensors, metadata: ["format": "pt", "rank": "8"], to: path)
        try SafetensorsWriter.write(tensors, metadata: ["format": "pt", "rank": "8"], to: path)  // overwrite
        #expect(try FileManager.default.contentsOfDirectory(atPath: tmp.path) == ["adapter.safetensors"])
        let f = try SafetensorsFile(path: path)
        #expect(f.metadata == ["format": "pt", "rank": "8"])
        #expect(f.tensorNames == tensors.keys.sorted())
        for (name, t) in tensors {
            let r = try f.tensor(name)
            #expect(r.shape == t.shape, "\(name)")
            WeightFixtures.assertBitwiseEqual(r.data, t.data, name)
        }
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        let n = data.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
        #expect(n % 8 == 0)
        #expect(throws: (any Error).self) { try SafetensorsWriter.write(["__metadata__": Tensor(zeros: [1])], to: path) }
        if let e = #expect(throws: ModelError.self, performing: {
            try SafetensorsWriter.write(["x": Tensor(zeros: [1])], to: "/nonexistent-dir/x.safetensors")
        }) {
            if case .unreadable = e {} else { Issue.record("\(e)") }
        }
    }

    func write(_ header: String, data: [UInt8]) throws -> String {
        var h = Array(header.utf8)
        while h.count % 8 != 0 { h.append(0x20) }
        var bytes = withUnsafeBytes(of: UInt64(h.count).littleEndian) { Array($0) }
        bytes += h + data
        let p = tmp.appendingPathComponent("t.safetensors").path
        try Data(bytes).write(to: URL(fileURLWithPath: p))
        return p
    }

    func expectError(_ header: String, data: [UInt8] = [UInt8](repeating: 0, count: 16), _ check: (ModelError) -> Bool) throws {
        let p = try write(header, data: data)
        if let e = #expect(throws: ModelError.self, "\(header)", performing: { try SafetensorsFile(path: p) }) {
            if !check(e) { Issue.record("\(header): \(e)") }
        }
    }

    @Test func invalidHeadersThrowTypedErrors() throws {
        try expectError(#"{"x":{"dtype":"F32","shape":[2,2],"data_offsets":[0,12]}}"#) {
            if case .invalidField(_, "x.data_offsets", _, _) = $0 { return true } else { return false }
        }
        try expectError(#"{"x":{"dtype":"F32","shape":[8],"data_offsets":[0,32]}}"#) {
            if case .truncated(_, "x.data_offsets", _, _) = $0 { return true } else { return false }
        }
        try expectError(#"{"x":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}"#) {
            if case .invalidField = $0 { return true } else { return false }
        }
        try expectError(#"{"x":{"dtype":"C64","shape":[1],"data_offsets":[0,8]}}"#) {
            if case .unsupported(_, "x.dtype", _) = $0 { return true } else { return false }
        }
        try expectError(#"{"x":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#) {
            if case .invalidField(_, "x.shape", _, _) = $0 { return true } else { return false }
        }
        try expectError(#"{"x":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,4]}}"#) {
            if case .invalidField = $0 { return true } else { return false }
        }
        try expectError(#"[1,2]"#) { if case .invalidField(_, "header", _, _) = $0 { return true } else { return false } }
        try expectError(#"{"x":"#) { if case .invalidField(_, "header", _, _) = $0 { return true } else { return false } }
        // Header length beyond the file.
        var d = withUnsafeBytes(of: UInt64(1 << 40).littleEndian) { Array($0) }
        d += [UInt8](repeating: 0x20, count: 8)
        let p = tmp.appendingPathComponent("big.safetensors").path
        try Data(d).write(to: URL(fileURLWithPath: p))
        if let e = #expect(throws: ModelError.self, performing: { try SafetensorsFile(path: p) }) {
            if case .truncated(_, "header", _, _) = e {} else { Issue.record("\(e)") }
        }
        // Valid non-float tensor: opens, but tensor() is unsupported.
        let ok = try write(#"{"i":{"dtype":"I32","shape":[2],"data_offsets":[0,8]}}"#, data: [1, 0, 0, 0, 2, 0, 0, 0])
        let f = try SafetensorsFile(path: ok)
        if let e = #expect(throws: ModelError.self, performing: { try f.tensor("i") }) {
            if case .unsupported = e {} else { Issue.record("\(e)") }
        }
    }
}
