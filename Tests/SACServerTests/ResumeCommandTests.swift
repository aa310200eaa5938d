import Foundation
import Testing

/// `sac train --resume` takes the compressor settings from the run's checkpoint: a run that
/// began from an `--init` adapter resumes without repeating it, and options given that
/// disagree with the checkpoint are refused, naming the flag.
@Suite struct ResumeCommandTests {
    static let tinyQA = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("SACDataTests/Fixtures/qa/tiny.jsonl.gz").path

    @Test func resumeTakesTheCheckpointsSettings() throws {
        guard try RealModel.get() != nil, let adapters = try TestAdapters.get(), let sac = sacExecutable() else { return }
        let out = try temporaryDirectory("resume")
        defer { try? FileManager.default.removeItem(atPath: out) }
        let run = out + "/run"
        let common = ["train", "--objective", "qa", "--data", Self.tinyQA, "--batch", "1", "--valid-every", "0",
                      "--checkpoint-every", "1", "--no-prepack", "--out", run]
        // Begins from the rank-4 test adapter (the flags' default rank is 8).
        let first = try runToEnd(sac, common + ["--init", adapters[5]!, "--steps", "1"])
        #expect(first.status == 0, "\(first.stderr)")
        // Resumed with method options that match the adapter's (and without its rank): accepted.
        let second = try runToEnd(sac, common + ["--method", "sac", "--ratio", "5", "--steps", "2", "--resume"])
        #expect(second.status == 0, "\(second.stderr)")
        #expect(second.stderr.contains("resumed from step 1"), "\(second.stderr)")
        // An option the checkpoint disagrees with: refused, naming the flag and both values.
        let third = try runToEnd(sac, common + ["--lora-rank", "16", "--steps", "3", "--resume"])
        #expect(third.status != 0)
        #expect(third.stderr.contains("--lora-rank 16 (adapter: 4)"), "\(third.stderr)")
    }
}
