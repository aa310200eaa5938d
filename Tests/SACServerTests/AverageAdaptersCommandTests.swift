import Foundation
import Testing

/// `sac average-adapters` on the real model: the average of an adapter with itself is that
/// adapter (same identity in F32); adapters of other settings, or an output over an input, are
/// refused and nothing is written.
@Suite struct AverageAdaptersCommandTests {
    @Test func averagesAndRefuses() throws {
        guard try RealModel.get() != nil, let adapters = try TestAdapters.get(), let sac = sacExecutable() else { return }
        let out = try temporaryDirectory("average")
        defer { try? FileManager.default.removeItem(atPath: out) }
        let a5 = adapters[5]!, a15 = adapters[15]!
        func identity(_ dir: String) throws -> String? {
            let data = try Data(contentsOf: URL(fileURLWithPath: dir + "/sac_config.json"))
            return (try JSONSerialization.jsonObject(with: data) as? [String: Any])?["adapterIdentity"] as? String
        }
        let same = try runToEnd(sac, ["average-adapters", a5, a5, "--dtype", "f32", "--out", out + "/same"])
        #expect(same.status == 0, "\(same.stderr)")
        #expect(try identity(out + "/same") == identity(a5))
        let mixed = try runToEnd(sac, ["average-adapters", a5, a15, "--out", out + "/mixed"])
        #expect(mixed.status != 0)
        #expect(mixed.stderr.contains("settings"), "\(mixed.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out + "/mixed"))
        let over = try runToEnd(sac, ["average-adapters", a5, out + "/same", "--out", out + "/same/"])
        #expect(over.status != 0)
        #expect(over.stderr.contains("--out must differ"), "\(over.stderr)")
    }
}
