import SACCompression
import SACTraining

/// The libraries name a bad setting by its field (`CompressorSettings.ratio`,
/// `TrainerConfig.batchSize`); the command line names the flag a user typed. This is the one
/// table between the two, applied to every error `sac` reports.
enum SettingFlags {
    static let flags: [String: String] = [
        // CompressorSettings
        "method": "--method", "ratio": "--ratio", "chunkSize": "--chunk-size", "anchors": "--anchors",
        "anchorEmbedding": "--anchor-embedding", "attention": "--attention", "lora": "--lora-rank/--lora-alpha/--lora-targets",
        "memoryPerChunkLength": "--memory-per-chunk-length", "maxContextTokens": "--max-context-tokens", "dtype": "--dtype",
        "question": "--question",
        // TrainerConfig
        "steps": "--steps", "batchSize": "--batch", "lr": "--lr", "warmupSteps": "--warmup", "clipNorm": "--clip",
        "validEvery": "--valid-every", "checkpointEvery": "--checkpoint-every", "validQuestions": "--valid-questions",
        "validContexts": "--valid-contexts", "multiChunkFraction": "--multi-chunk", "distractors": "--distractors", "contextTokens": "--context-tokens",
        "ceWeight": "--ce-weight", "klWeight": "--kl-weight", "hiddenWeight": "--hidden-weight",
        "maxTrainSeconds": "--train-minutes", "decaySteps": "--decay-steps", "decaySeconds": "--decay-minutes", "aeWeight": "--ae-weight/--lm-weight",
    ]

    /// The flag for a library's setting name (the name itself when it has none).
    static func flag(_ field: String) -> String { flags[field] ?? field }

    /// `error` in the command line's words: settings named by their flags.
    static func translate(_ error: Error) -> Error {
        switch error {
        case let CompressionError.invalidOption(option, detail):
            return CommandLineError(description: "invalid option \(flag(option)): \(detail)")
        case CompressionError.contextTooLong(let tokens, let limit):
            return CommandLineError(
                description: "the context has \(tokens) tokens, more than the limit of \(limit) (raise it with --max-context-tokens)")
        case let TrainingError.invalidSetting(field, detail):
            return CommandLineError(description: "invalid option \(flag(field)): \(detail)")
        default:
            return error
        }
    }
}

/// An error already phrased for the command line.
struct CommandLineError: Error, CustomStringConvertible {
    let description: String
}
