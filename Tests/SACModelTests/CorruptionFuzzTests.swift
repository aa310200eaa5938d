import Foundation
import Testing
@testable import SACModel
@testable import SACTensor

/// Seeded mutations of valid GGUF and safetensors files: every load (and every tensor read
/// of a file that loads) either succeeds or throws `ModelError` — never crashes, never
/// throws anything else.
@Suite final class CorruptionFuzzTests {
    /// A fresh temporary directory per test (each test gets its own suite instance).
    let tmp: URL

    init() throws {
        tmp = FileManager.default.temporaryDirectory.appendingPathComponent("sac-fuzz-\(getpid())-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
    }

    deinit {
        try? FileManager.default.removeItem(at: tmp)
    }

    /// One seeded mutation: truncation, byte flips in the first `headerBytes`, a huge 8- or
    /// 4-byte little-endian value at a random header position, or a bad magic.
    func mutate(_ good: [UInt8], headerBytes: Int, _ rng: inout SplitMix64) -> [UInt8] {
        var d = good
        let h = min(headerBytes, d.count)
        switch Int.random(in: 0..<5, using: &rng) {
        case 0:
            d = Array(d.prefix(Int.random(in: 0..<d.count, using: &rng)))
        case 1:
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                d[Int.random(in: 0..<h, using: &rng)] ^= UInt8.random(in: 1...255, using: &rng)
            }
        case 2:
            let huge: [UInt64] = [.max, 1 << 62, 1 << 40, 0x7FFF_FFFF, UInt64(d.count), UInt64(d.count) + 1]
            let v = huge[Int.random(in: 0..<huge.count, using: &rng)]
            let at = Int.random(in: 0..<(h - 8), using: &rng)
            for i in 0..<8 { d[at + i] = UInt8((v >> (8 * UInt64(i))) & 0xFF) }
        case 3:
            let at = Int.random(in: 0..<(h - 4), using: &rng)
            let v = UInt32.random(in: 0...UInt32.max, using: &rng)
            for i in 0..<4 { d[at + i] = UInt8((v >> (8 * UInt32(i))) & 0xFF) }
        default:
            d[Int.random(in: 0..<4, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
        }
        return d
    }

    func check(_ what: String, _ body: () throws -> Void) {
        do { try body() } catch is ModelError {} catch {
            Issue.record("\(what): non-ModelError \(error)")
        }
    }

    @Test func ggufMutations() throws {
        var rng = SplitMix64(seed: 2024)
        var loaded = 0, rejected = 0
        for (file, header) in [("gguf/types.gguf", 1600), ("gguf/tiny-llama-q8_0.gguf", 1800)] {
            let good = [UInt8](try Data(contentsOf: URL(fileURLWithPath: WeightFixtures.path(file))))
            for i in 0..<200 {
                let bytes = mutate(good, headerBytes: header, &rng)
                let p = tmp.appendingPathComponent("m\(i).gguf").path
                try Data(bytes).write(to: URL(fileURLWithPath: p))
                check("\(file) #\(i)") {
                    let g: GGUFFile
                    do { g = try GGUFFile(path: p) } catch { rejected += 1; throw error }
                    loaded += 1
                    for t in g.tensors { check("\(t.name)") { _ = try g.tensor(t.name) } }
                    for k in g.metadataKeys {
                        check(k) { _ = try g.string(k) }
                        check(k) { _ = try g.intArray(k) }
                    }
                    check("config") {
                        let w = try GGUFWeightSource(path: p)
                        for n in w.tensorNames { check(n) { _ = try w.tensor(n); _ = try w.quantized(n) } }
                    }
                }
                try FileManager.default.removeItem(atPath: p)
            }
        }
        #expect(rejected > 100)  // the mutations do hit the checks
        #expect(loaded > 10)  // and some mutations are harmless
    }

    @Test func safetensorsMutations() throws {
        var rng = SplitMix64(seed: 99)
        let src = WeightFixtures.path("tiny-llama/bf16-sharded/model-00002-of-00002.safetensors")
        let good = [UInt8](try Data(contentsOf: URL(fileURLWithPath: src)))
        let headerLen = Int(good.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }) + 8
        var rejected = 0
        for i in 0..<300 {
            let bytes = mutate(good, headerBytes: headerLen, &rng)
            let p = tmp.appendingPathComponent("m\(i).safetensors").path
            try Data(bytes).write(to: URL(fileURLWithPath: p))
            check("safetensors #\(i)") {
                let f: SafetensorsFile
                do { f = try SafetensorsFile(path: p) } catch { rejected += 1; throw error }
                for n in f.tensorNames { check(n) { _ = try f.tensor(n) } }
            }
            try FileManager.default.removeItem(atPath: p)
        }
        #expect(rejected > 100)
    }
}
