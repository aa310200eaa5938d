import ArgumentParser
import Foundation
import SACCompression
import SACModel

/// The README's main job: compress a bundled document once with the shipped SAC adapter, then
/// answer bundled questions from the memory and, for comparison, from the full context.
struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compress a document once, answer questions from the memory and from the full context.",
        discussion: """
            Defaults: the shipped adapter (adapters/sac-smollm2-5x), examples/lincoln-second-inaugural.txt \
            and examples/lincoln-questions.txt (one question per line). Prints each answer from the 5x \
            memory next to the frozen model's answer from the whole context, the compression ratio, and \
            the time to first token both ways. Progress on stderr.
            """)

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var adapterOptions: AdapterOptions
    @Option(help: "Text file to compress (default: the bundled Lincoln address).") var document: String?
    @Option(help: "Questions, one per line (default: the bundled ones).") var questions: String?
    @Option(help: "Most tokens per answer.") var maxTokens = 32

    func run() throws {
        let docPath = try Self.bundled(document, "examples/lincoln-second-inaugural.txt", what: "--document")
        let qPath = try Self.bundled(questions, "examples/lincoln-questions.txt", what: "--questions")
        let text = try Self.readText(docPath, what: "--document")
        let qs = try Self.readText(qPath, what: "--questions").split(whereSeparator: \.isNewline)
            .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !qs.isEmpty else { throw ValidationError("--questions \(qPath) holds no question") }

        let loaded = try modelOptions.load()
        let adapterDir = try adapterOptions.resolve()
        stderr("loading the compressor \(adapterDir)…")
        let compressor = try Compressor.load(adapter: adapterDir, model: loaded.model)
        let prompt = try QAPrompt(tokenizer: loaded.tokenizer, config: loaded.model.config)
        let context = prompt.context(text)
        stderr("compressing \(docPath) (\(context.count) tokens)…")
        let t0 = Date()
        // Answered as a stored memory reads back: keys and values in F16.
        let memory = try compressor.compress(context).rounded(to: .f16)
        let compressMs = Date().timeIntervalSince(t0) * 1000
        say(String(format: "%@: %d tokens → %d carriers (%@ %.2fx) in %.0f ms, memory %.1f MB (F16)",
                     (docPath as NSString).lastPathComponent, memory.contextTokens, memory.carriers,
                     memory.method.rawValue, memory.achievedRatio, compressMs, Double(memory.byteCount(stored: .f16)) / 1_048_576))

        let decoder = MemoryDecoder(model: loaded.model)
        var ttftMemory: [Double] = [], ttftFull: [Double] = []
        for (i, q) in qs.enumerated() {
            stderr("question \(i + 1)/\(qs.count)…")
            let question = prompt.question(q)
            let fromMemory = try decoder.answer(
                memory: memory, question: question, maxTokens: maxTokens, stopTokens: prompt.stopTokens)
            let fromContext = try decoder.answerFromContext(
                context: context, question: question, maxTokens: maxTokens, stopTokens: prompt.stopTokens)
            ttftMemory.append(fromMemory.prefillSeconds * 1000)
            ttftFull.append(fromContext.prefillSeconds * 1000)
            say("\nQ: \(q)")
            say(String(format: "  5x memory    (first token %5.0f ms): ", fromMemory.prefillSeconds * 1000)
                + Self.oneLine(loaded.tokenizer.decode(fromMemory.ids, skipSpecialTokens: true)))
            say(String(format: "  full context (first token %5.0f ms): ", fromContext.prefillSeconds * 1000)
                + Self.oneLine(loaded.tokenizer.decode(fromContext.ids, skipSpecialTokens: true)))
        }
        let mMem = ttftMemory.reduce(0, +) / Double(ttftMemory.count)
        let mFull = ttftFull.reduce(0, +) / Double(ttftFull.count)
        say(String(format: "\nratio %.2fx | mean time to first token: %.0f ms from the memory, %.0f ms from the full context (%.1fx faster); compressing once took %.0f ms",
                     memory.achievedRatio, mMem, mFull, mFull / max(mMem, 1e-9), compressMs))
    }

    /// `given`, else `relative` next to the repository that built this executable, else in
    /// the current directory.
    static func bundled(_ given: String?, _ relative: String, what: String) throws -> String {
        if let given { return given }
        let exe = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        let candidates = [
            exe.deletingLastPathComponent().appendingPathComponent("../../../\(relative)").standardized.path,
            FileManager.default.currentDirectoryPath + "/" + relative,
        ]
        for c in candidates where FileManager.default.fileExists(atPath: c) { return c }
        throw ValidationError("\(relative) not found (run from the repository, or pass \(what) FILE)")
    }

    static func readText(_ path: String, what: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: path) else { throw ValidationError("cannot read \(what) \(path)") }
        guard let text = String(data: data, encoding: .utf8) else { throw ValidationError("\(what) \(path) is not UTF-8 text") }
        guard !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { throw ValidationError("\(what) \(path) is empty") }
        return text
    }

    /// One line of stdout, written at once (progress goes to stderr in between).
    func say(_ line: String) { stdoutWrite(line + "\n") }

    /// The answer on one line, cut where the model starts a new template section ("###"):
    /// the frozen model reading the full context tends to go on with "### Question: …".
    static func oneLine(_ s: String) -> String {
        var t = s
        if let r = t.range(of: "###") { t = String(t[..<r.lowerBound]) }
        t = t.replacingOccurrences(of: "\n", with: " ").trimmingCharacters(in: .whitespaces)
        return t.isEmpty ? "(empty)" : t
    }
}
