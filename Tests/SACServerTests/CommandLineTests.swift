import Foundation
import Testing

/// The command line names bad settings by the flags a user typed (the libraries name fields;
/// `SettingFlags` maps them), and checks training settings before loading the model.
@Suite struct CommandLineTests {
    /// Runs `sac` with `arguments`; returns the exit status and stderr.
    static func run(_ arguments: [String]) throws -> (status: Int32, stderr: String)? {
        guard let sac = sacExecutable() else {
            Issue.record("the sac executable was not found next to the test bundle")
            return nil
        }
        // No model anywhere: the settings must be refused before one is needed.
        return try runToEnd(sac, arguments, environment: ["SAC_HOME": "/nonexistent-sac-home"])
    }

    @Test(arguments: [
        (["--steps", "0"], "invalid option --steps: 0, expected ≥ 1"),
        (["--steps", "5", "--decay-steps", "9"], "invalid option --decay-steps: 9, expected in 0...5"),
        (["--steps", "5", "--train-minutes", "1", "--decay-minutes", "2"],
         "invalid option --decay-minutes: 2.0 minutes, expected at most the time budget (1.0 minutes)"),
        (["--steps", "5", "--multi-chunk", "1.5"], "invalid option --multi-chunk: 1.5, expected in [0, 1]"),
        (["--steps", "5", "--method", "full", "--ratio", "4"], "invalid option --ratio: does not apply to method full"),
        (["--steps", "5", "--method", "icae"], "invalid option --ratio: required for method icae"),
    ])
    func badTrainingSettingsNameTheFlag(extra: [String], expected: String) throws {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("sac-cli-\(UUID().uuidString)").path
        guard let r = try Self.run(["train", "--objective", "qa", "--data", "unused.jsonl", "--out", out] + extra) else { return }
        #expect(r.status != 0)
        #expect(r.stderr.contains(expected), "\(r.stderr)")
        #expect(!r.stderr.contains("loading"), "the model was loaded before the settings were checked: \(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out))
    }

    /// `--decode-activations` takes f32 or q8 on every command that runs the model, and names
    /// itself when given anything else (before any model is needed).
    @Test(arguments: [["bench", "model"], ["generate", "--prompt", "x"], ["serve"]])
    func badDecodeActivationsNameTheFlag(command: [String]) throws {
        guard let r = try Self.run(command + ["--decode-activations", "q9"]) else { return }
        #expect(r.status != 0)
        #expect(r.stderr.contains("--decode-activations") && r.stderr.contains("q9"), "\(r.stderr)")
        #expect(!r.stderr.contains("loading"), "\(r.stderr)")
    }
}
