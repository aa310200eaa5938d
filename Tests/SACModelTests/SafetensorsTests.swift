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
            if case .unwritable = e {} else { Issue.record("\(e)") }
        }
    }

    /// F16 and BF16 writing: every value read back is the nearest representable one (ties to
    /// even), checked against a Float64 reference that picks the closer of the two neighbouring
    /// 16-bit values; the payload is 2 bytes per value; F16 overflow is an error, not infinity.
    @Test(arguments: [SafetensorsDType.F16, .BF16]) func writerHalfPrecision(dtype: SafetensorsDType) throws {
        var rng = SplitMix64(seed: 12)
        var a = Tensor(randomNormal: [9, 11], using: &rng)
        a.data[0] = 1 + 1.0 / 2048  // an F16 tie (between 1 and 1 + 2^-10): rounds to even (1); BF16 too
        a.data[1] = 1 + 1.0 / 256  // a BF16 tie (between 1 and 1 + 2^-7): rounds to even (1); exact in F16
        a.data[2] = 3e-3  // small values keep their relative precision
        a.data[3] = -7.5e-6  // an F16 subnormal
        let tensors: [String: Tensor] = ["a": a, "one": Tensor(randomNormal: [1], using: &rng), "empty": Tensor(zeros: [0])]
        let path = tmp.appendingPathComponent("half-\(dtype).safetensors").path
        try SafetensorsWriter.write(tensors, metadata: ["k": "v"], dtype: dtype, to: path)
        let f = try SafetensorsFile(path: path)
        #expect(f.metadata == ["k": "v"])
        for (name, t) in tensors {
            #expect(f.tensors[name]?.dtype == dtype)
            #expect(f.tensors[name]?.fileRange.count == 2 * t.count)
            let back = try f.tensor(name)
            #expect(back.shape == t.shape)
            for (x, y) in zip(t.data, back.data) {
                #expect(y == Self.nearest(x, dtype: dtype), "\(name): \(x) → \(y)")
                #expect(y == dtype.rounded(x))
            }
        }
        let b = try SafetensorsFile(path: path).tensor("a").data
        #expect(b[0] == 1)
        #expect(b[1] == (dtype == .F16 ? a.data[1] : 1))
        if dtype == .F16 {
            if let e = #expect(throws: ModelError.self, performing: {
                try SafetensorsWriter.write(["big": try Tensor(shape: [2], data: [1, 70000])], dtype: .F16, to: path)
            }) {
                guard case .invalidField(_, let field, _, _) = e, field == "big" else { Issue.record("\(e)"); return }
            }
            // The earlier file is still there, whole.
            #expect(try SafetensorsFile(path: path).tensor("a").data == b)
        } else {
            let big = tmp.appendingPathComponent("big-bf16.safetensors").path
            try SafetensorsWriter.write(["big": try Tensor(shape: [1], data: [70000])], dtype: .BF16, to: big)
            #expect(try SafetensorsFile(path: big).tensor("big").data == [70144])
        }
        #expect(throws: ModelError.self) { try SafetensorsWriter.write(tensors, dtype: .I32, to: path) }
    }

    /// The 16-bit value nearest to `x` (ties to the even significand), found in Float64 from the
    /// two candidates around `x`'s truncation; independent of the writer's bit arithmetic.
    static func nearest(_ x: Float, dtype: SafetensorsDType) -> Float {
        let mant = dtype == .F16 ? 10 : 7
        let minExp = dtype == .F16 ? -14 : -126
        let v = Double(x)
        if v == 0 { return x }
        let e = max(Int(floor(log2(abs(v)))), minExp)
        let ulp = pow(2.0, Double(e - mant))
        let lo = (v / ulp).rounded(.down) * ulp, hi = lo + ulp
        let dl = v - lo, dh = hi - v
        let pick: Double
        if dl < dh { pick = lo } else if dh < dl { pick = hi } else { pick = Int((lo / ulp).rounded()) % 2 == 0 ? lo : hi }
        return Float(pick)
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
