import Foundation
import Testing
@testable import SACCompression
@testable import SACStore

/// A small synthetic memory (no model needed): `layers` layers of `[carriers × kv]`.
func syntheticMemory(seed: Float, carriers: Int = 3, layers: Int = 2, kv: Int = 4, hidden: Int = 8,
                     model: String = "llama-test", adapter: String = "sac-5x-test") -> CompressedMemory {
    let keys = (0..<layers).map { l in (0..<(carriers * kv)).map { Float($0) * 0.01 + seed + Float(l) } }
    let values = keys.map { $0.map { -$0 } }
    return CompressedMemory(
        method: .sac, ratio: 5, contextTokens: carriers * 5, carriers: carriers, decoderStart: Int32(carriers * 5),
        carrierPositions: (0..<carriers).map { Int32(2 + 5 * $0) }, keys: keys, values: values, embeddings: [],
        lmToken: (0..<hidden).map { Float($0) + seed }, model: model, adapter: adapter, kvDim: kv, hidden: hidden)
}

func temporaryDirectory(_ name: String) throws -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sac-\(name)-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}

@Suite struct StoreTests {
    @Test func addFindLoadListDelete() throws {
        let dir = try temporaryDirectory("store")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try Store(directory: dir)
        let m1 = syntheticMemory(seed: 1), m2 = syntheticMemory(seed: 2)
        let (r1, created1) = try store.add(m1, contentHash: SHA256.hex("first"))
        #expect(created1)
        let (again, created2) = try store.add(m1, contentHash: SHA256.hex("first"))
        #expect(!created2 && again.id == r1.id, "the same text, model, adapter, method and ratio give the same memory")
        let (r2, _) = try store.add(m2, contentHash: SHA256.hex("second"))
        #expect(r2.id != r1.id)
        // Another adapter is another memory, even for the same text.
        let (r3, created3) = try store.add(syntheticMemory(seed: 1, adapter: "sac-5x-other"), contentHash: SHA256.hex("first"))
        #expect(created3 && r3.id != r1.id)
        #expect(try store.find(contentHash: SHA256.hex("first"), model: "llama-test", adapter: "sac-5x-test", method: "sac", ratio: 5)?.id == r1.id)
        let (rec, loaded) = try store.load(try MemoryID(r1.id))
        #expect(try loaded == m1.rounded(to: .f16) && rec == r1)  // the store writes F16 keys and values
        #expect(loaded.dtype == .f16)
        #expect(rec.contextTokens == 15 && rec.carriers == 3 && rec.fileBytes > 0)
        #expect(try store.list().map(\.id) == [r1.id, r2.id, r3.id])
        #expect(try store.list(limit: 1, offset: 1).map(\.id) == [r2.id])
        #expect(try store.stats().count == 3)
        #expect(try store.delete(try MemoryID(r2.id)))
        #expect(try !store.delete(try MemoryID(r2.id)))
        #expect(throws: StoreError.notFound(id: r2.id)) { try store.load(try MemoryID(r2.id)) }
        #expect(!FileManager.default.fileExists(atPath: store.path(for: try MemoryID(r2.id))))
        // Reopening sees the same memories.
        let reopened = try Store(directory: dir, create: false)
        #expect(try reopened.list().map(\.id) == [r1.id, r3.id])
        #expect(try reopened.load(try MemoryID(r3.id)).memory == (try syntheticMemory(seed: 1, adapter: "sac-5x-other").rounded(to: .f16)))
        #expect(try reopened.verify().isConsistent)
    }

    @Test func idsAreValidatedBeforeAnyPathIsMade() throws {
        for bad in ["../../etc/passwd", "", "0123456789abcdef0123456789abcdeg", "0123456789ABCDEF0123456789ABCDEF",
                    "0123456789abcdef0123456789abcde", "0123456789abcdef0123456789abcdef0", "..%2F..%2Fetc%2Fpasswd",
                    "/etc/passwd", "0123456789abcdef/123456789abcdef"] {
            #expect(throws: StoreError.invalidID(bad)) { try MemoryID(bad) }
        }
        #expect(try MemoryID("0123456789abcdef0123456789abcdef").value == "0123456789abcdef0123456789abcdef")
        let a = MemoryID.random(), b = MemoryID.random()
        #expect(try a != b && MemoryID(a.value) == a)
        #expect(throws: StoreError.self) { try Store(directory: "/nonexistent-\(UUID().uuidString)", create: false) }
    }

    @Test func corruptionIsReportedForThatMemoryOnly() throws {
        let dir = try temporaryDirectory("store-corrupt")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try Store(directory: dir)
        let good = try store.add(syntheticMemory(seed: 1), contentHash: SHA256.hex("a")).record
        let flipped = try store.add(syntheticMemory(seed: 2), contentHash: SHA256.hex("b")).record
        let truncated = try store.add(syntheticMemory(seed: 3), contentHash: SHA256.hex("c")).record
        let missing = try store.add(syntheticMemory(seed: 4), contentHash: SHA256.hex("d")).record
        // One byte changed inside the float data: same size, different SHA-256.
        let p = store.path(for: try MemoryID(flipped.id))
        var data = try Data(contentsOf: URL(fileURLWithPath: p))
        data[data.count - 3] ^= 0x40
        try data.write(to: URL(fileURLWithPath: p))
        try Data(try Data(contentsOf: URL(fileURLWithPath: store.path(for: try MemoryID(truncated.id)))).prefix(40))
            .write(to: URL(fileURLWithPath: store.path(for: try MemoryID(truncated.id))))
        try FileManager.default.removeItem(atPath: store.path(for: try MemoryID(missing.id)))
        for r in [flipped, truncated, missing] {
            #expect {
                try store.load(try MemoryID(r.id))
            } throws: { e in
                guard case StoreError.corrupt(let id, _) = e else { return false }
                return id == r.id
            }
        }
        #expect(try store.load(try MemoryID(good.id)).memory == (try syntheticMemory(seed: 1).rounded(to: .f16)))
        let v = try store.verify()
        #expect(v.checked == 4 && !v.isConsistent)
        #expect(Set(v.problems.keys) == [flipped.id, truncated.id, missing.id])
    }

    /// What an interrupted write or delete leaves (temporary files, a renamed but unindexed
    /// file, an unlinked row's file) is never served, and verify reports and cleans it.
    @Test func leftoversOfInterruptedWritesAreHarmless() throws {
        let dir = try temporaryDirectory("store-leftovers")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try Store(directory: dir)
        let kept = try store.add(syntheticMemory(seed: 1), contentHash: SHA256.hex("kept")).record
        let mem = dir + "/memories/"
        let orphanID = MemoryID.random()
        try syntheticMemory(seed: 9).write(to: mem + orphanID.value + ".safetensors")  // renamed, never committed
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: mem + ".tmp-\(MemoryID.random().value).safetensors"))  // half-written
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: mem + "..tmp-x.safetensors.tmp-123-456"))
        #expect(throws: StoreError.notFound(id: orphanID.value)) { try store.load(orphanID) }
        var v = try store.verify()
        #expect(v.isConsistent && v.checked == 1)
        #expect(v.orphanFiles.count == 1 && v.temporaryFiles.count == 2)
        #expect(try store.list().map(\.id) == [kept.id])
        v = try store.verify(clean: true)
        #expect(v.isConsistent)
        #expect(try FileManager.default.contentsOfDirectory(atPath: mem) == [kept.id + ".safetensors"])
        #expect(try store.load(try MemoryID(kept.id)).memory == (try syntheticMemory(seed: 1).rounded(to: .f16)))
    }
}
