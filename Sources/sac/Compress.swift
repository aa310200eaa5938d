import ArgumentParser
import Foundation
import SACCompression
import SACModel

extension MemoryDType: ExpressibleByArgument {}

struct Compress: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compress a text file into a memory file (safetensors) that `sac answer` reads.",
        discussion: "The context is encoded as SPEC's QA template ([BOS] ### Context: …). Summary on stderr.")

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var adapterOptions: AdapterOptions
    @Option(help: "UTF-8 text file to compress.") var input: String
    @Option(help: "Memory file to write (.safetensors).") var out: String
    @Option(help: "Training-free baseline instead of an adapter: --method tokens --ratio R.") var method: CompressionMethod?
    @Option(help: "Ratio for --method tokens.") var ratio: Int?
    @Option(help: "How the file stores keys and values: f16 (default, half of f32), bf16 or f32.")
    var memoryDtype: MemoryDType = .f16

    func run() throws {
        guard let data = FileManager.default.contents(atPath: input) else {
            throw ValidationError("cannot read --input \(input)")
        }
        guard let text = String(data: data, encoding: .utf8) else { throw ValidationError("--input \(input) is not UTF-8 text") }
        guard !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw ValidationError("--input \(input) is empty")
        }
        let loaded = try modelOptions.load()
        let compressor = try makeCompressor(method: method, ratio: ratio, adapter: adapterOptions, model: loaded.model)
        let prompt = try QAPrompt(tokenizer: loaded.tokenizer, config: loaded.model.config)
        let ids = prompt.context(text)
        let t0 = Date()
        let memory = try compressor.compress(ids)
        let ms = Date().timeIntervalSince(t0) * 1000
        try memory.write(to: out, dtype: memoryDtype)
        stderr(String(format: "%@: %d tokens → %d carriers (%.2fx, %@) in %.0f ms; %.1f KB (%@) written to %@",
                      input, memory.contextTokens, memory.carriers, memory.achievedRatio, memory.method.rawValue, ms,
                      Double(memory.byteCount(stored: memoryDtype)) / 1024, memoryDtype.rawValue, out))
    }
}

/// The compressor for --method tokens (no adapter), else the adapter's.
func makeCompressor(method: CompressionMethod?, ratio: Int?, adapter: AdapterOptions, model: LlamaModel) throws -> Compressor {
    if method == .tokens {
        guard adapter.adapter == nil else { throw ValidationError("--method tokens is training-free: drop --adapter") }
        guard let ratio else { throw ValidationError("--method tokens needs --ratio") }
        return try Compressor(model: model, settings: CompressorSettings.from(
            method: .tokens, ratio: ratio, chunkSize: nil, anchors: nil, anchorEmbedding: nil, attention: nil, lora: nil,
            memoryPerChunkLength: nil, maxContextTokens: nil, seed: nil))
    }
    let c = try adapter.load(model: model)
    if let method, method != c.settings.method {
        throw ValidationError("the adapter was trained for --method \(c.settings.method.rawValue), not \(method.rawValue)")
    }
    // An adapter fixes its own ratio: a matching --ratio is accepted, another refused.
    if let ratio, ratio != c.settings.ratio {
        throw ValidationError("--ratio \(ratio) differs from the adapter's ratio \(c.settings.ratio) (\(adapter.adapter ?? "the shipped adapter")); drop --ratio or give \(c.settings.ratio)")
    }
    return c
}

struct Answer: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Answer a question from a memory file written by `sac compress`.",
        discussion: "Streams the answer on stdout; timing on stderr. The memory must come from the same model.")

    @OptionGroup var modelOptions: ModelOptions
    @Option(help: "Memory file from `sac compress`.") var memory: String
    @Option(help: "The question.") var question: String
    @Option(help: "Check that the memory was made with this adapter.") var adapter: String?
    @Option(help: "Most tokens to generate.") var maxTokens = 64

    func run() throws {
        guard !question.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw ValidationError("--question is empty")
        }
        let mem = try CompressedMemory(contentsOf: memory)
        let loaded = try modelOptions.load()
        if let adapter {
            let m = try Compressor.readManifest(adapter)
            guard m.adapterIdentity == mem.adapter else {
                throw CompressionError.identityMismatch(file: memory, field: "adapter", expected: "\(m.adapterIdentity) (\(adapter))", found: mem.adapter)
            }
        }
        let prompt = try QAPrompt(tokenizer: loaded.tokenizer, config: loaded.model.config)
        var stream = StreamingDecoder(tokenizer: loaded.tokenizer, skipSpecialTokens: true)
        let result = try MemoryDecoder(model: loaded.model).answer(
            memory: mem, question: prompt.question(question), maxTokens: maxTokens, stopTokens: prompt.stopTokens, file: memory
        ) { stdoutWrite(stream.append($0)) }
        stdoutWrite(stream.finish() + "\n")
        stderr(String(format: "%d carriers (%.2fx) | first token after %.0f ms | %d tokens in %.0f ms",
                      mem.carriers, mem.achievedRatio, result.prefillSeconds * 1000, result.ids.count,
                      (result.prefillSeconds + result.decodeSeconds) * 1000))
    }
}
