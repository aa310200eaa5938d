import ArgumentParser
import Foundation
import SACModel

struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Continue a prompt (greedy unless --temperature is given).",
        discussion: "Prints exactly the continuation on stdout and a summary line on stderr.")

    @OptionGroup var modelOptions: ModelOptions
    @Option(help: "The prompt.") var prompt: String
    @Option(help: "Most tokens to generate.") var maxTokens = 128
    @Option(help: "Sampling temperature (omit or 0 for greedy).") var temperature: Float?
    @Option(help: "Nucleus sampling: keep the most likely tokens up to this probability.") var topP: Float = 1
    @Option(help: "Seed for sampling.") var seed: UInt64 = 0
    @Flag(help: "Wrap the prompt in the model's chat template as a user message.") var chat = false
    @Option(help: "System message for --chat (default: the template's own).") var system: String?
    @Flag(help: "Keep generating after the end-of-sequence token.") var ignoreEos = false

    func validate() throws {
        if maxTokens < 1 { throw ValidationError("--max-tokens must be at least 1") }
        if let t = temperature, !(t >= 0) { throw ValidationError("--temperature must be ≥ 0") }
        if !(topP > 0 && topP <= 1) { throw ValidationError("--top-p must be in (0, 1]") }
    }

    func run() throws {
        let loaded = try modelOptions.load()
        let tok = loaded.tokenizer
        let ids: [Int32]
        if chat {
            var messages: [ChatMessage] = []
            if let system { messages.append(ChatMessage(role: "system", content: system)) }
            messages.append(ChatMessage(role: "user", content: prompt))
            let text = try tok.applyChatTemplate(messages, addGenerationPrompt: true)
            ids = tok.encode(text, addSpecialTokens: false)
        } else {
            ids = tok.encode(prompt)
        }
        guard !ids.isEmpty else { throw ValidationError("the prompt has no tokens") }
        let sampler = try Sampler(temperature: temperature, topP: topP, seed: seed)
        let stops = ignoreEos ? [] : tok.stopTokens(config: loaded.model.config)
        var stream = StreamingDecoder(tokenizer: tok, skipSpecialTokens: false)
        let cache = loaded.model.makeCache(capacity: ids.count + maxTokens)
        let (_, stats) = try loaded.model.generate(
            prompt: ids, cache: cache, maxTokens: maxTokens, sampler: sampler, stopTokens: stops
        ) { token in
            stdoutWrite(stream.append(token))
            return true
        }
        stdoutWrite(stream.finish())
        stderr(
            String(
                format: "\nprompt: %d tokens, %.1f tokens/s | generated: %d tokens, %.1f tokens/s | peak memory: %.0f MB",
                stats.promptTokens, stats.promptTokensPerSecond, stats.generatedTokens,
                stats.generatedTokensPerSecond, Double(peakResidentBytes()) / 1_048_576))
    }
}
