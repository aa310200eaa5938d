import ArgumentParser
import Foundation
import SACCompression
import SACData
import SACEvaluation
import SACModel

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Evaluate a compressor on QA data: ROUGE-1 F / EM (paper), SQuAD F1 / EM, ratio, timings.",
        discussion: """
            Each context is compressed once and all its questions are answered greedily from the memory. \
            Prints a Markdown table (one row per data set and their average) on stdout; progress on stderr. \
            Data: MRQA .jsonl/.jsonl.gz or SQuAD v1.1 .json. --method tokens needs --ratio and no adapter; \
            the other methods come from --adapter (default: the shipped one).
            """)

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var adapterOptions: AdapterOptions
    @Option(parsing: .upToNextOption, help: "QA data files.") var data: [String]
    @Option(help: "Method; must match the adapter's (tokens: the training-free baseline).") var method: CompressionMethod?
    @Option(help: "Ratio for --method tokens.") var ratio: Int?
    @Option(help: "At most N questions per data set.") var limit: Int?
    @Option(help: "Write the report as JSON to this file.") var json: String?
    @Option(help: "Write one JSON line per question (id, question, prediction, answers).") var predictions: String?
    @Option(help: "Most tokens per answer.") var maxNewTokens = 32
    @Option(help: "Only the questions of the last N distinct contexts of each file (e.g. 100: the contexts `sac train` holds out of SQuAD-train for validation).")
    var lastContexts: Int?
    @Option(help: "One question from each of N contexts spread evenly through each file (SQuAD-dev is grouped by article: its first N questions cover two or three).")
    var spread: Int?
    @Option(help: "Multi-chunk sets: place every question's paragraph among N other paragraphs of the same file (position varied, seeded); the set is named NAME+N.")
    var distractors: Int?
    @Option(help: "Answer from memories rounded as a file of this dtype stores them: f16 (what `sac compress` and the store write), bf16, or f32 (exact).")
    var memoryDtype: MemoryDType = .f16
    @Option(help: "Keep the first N tokens of each context (0: all): for contexts longer than the model's positions (QMSum transcripts of many thousand tokens).")
    var contextTokens = 0
    @Flag(help: "No context: the frozen model reads the question alone (after BOS), the reference a compressor must beat. Takes no adapter.")
    var noContext = false

    func validate() throws {
        if data.isEmpty { throw ValidationError("--data needs at least one file") }
        if let limit, limit < 1 { throw ValidationError("--limit must be at least 1") }
        if maxNewTokens < 1 { throw ValidationError("--max-new-tokens must be at least 1") }
        if let distractors, distractors < 1 { throw ValidationError("--distractors must be at least 1") }
        if let lastContexts, lastContexts < 1 { throw ValidationError("--last-contexts must be at least 1") }
        if let spread, spread < 1 { throw ValidationError("--spread must be at least 1") }
        if contextTokens < 0 { throw ValidationError("--context-tokens must be at least 0") }
        if noContext && (method != nil || ratio != nil || adapterOptions.adapter != nil) {
            throw ValidationError("--no-context reads no memory: drop --method, --ratio and --adapter")
        }
    }

    func run() throws {
        var sets: [QAReadResult] = []
        for path in data {
            let url = URL(fileURLWithPath: path)
            let r = try DataFile.readQA(url: url)
            for s in r.skipped.prefix(10) { stderr("\(path): skipped \(s)") }
            if !r.skipped.isEmpty { stderr("\(path): skipped \(r.skipped.count) entr\(r.skipped.count == 1 ? "y" : "ies")") }
            guard !r.examples.isEmpty else { throw ValidationError("\(path) holds no usable question") }
            let last = lastContexts.map { r.lastContexts($0) } ?? r
            let kept = spread.map { last.spread($0) } ?? last
            sets.append(distractors.map { kept.withDistractors($0) } ?? kept)
        }
        let loaded = try modelOptions.load()
        let compressor = noContext
            ? try makeCompressor(method: .tokens, ratio: 2, adapter: adapterOptions, model: loaded.model)
            : try makeCompressor(method: method, ratio: ratio, adapter: adapterOptions, model: loaded.model)
        var prompt = try QAPrompt(tokenizer: loaded.tokenizer, config: loaded.model.config)
        prompt.contextLimit = contextTokens > 0 ? contextTokens : nil
        var evaluator = Evaluator(compressor: compressor, prompt: prompt, maxNewTokens: maxNewTokens)
        evaluator.questionOnly = noContext
        evaluator.memoryDType = memoryDtype
        var predictionLines = Data()
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var rows: [DatasetScores] = []
        let s = compressor.settings
        stderr("evaluating \(noContext ? "no context (question only)" : s.method.rawValue + (s.method == .full ? "" : " \(s.ratio)x")) on \(sets.map(\.name).joined(separator: ", "))")
        for set in sets {
            let start = Date()
            let row = try evaluator.evaluate(set, limit: limit, predictions: { p in
                if let line = try? enc.encode(p) { predictionLines.append(line); predictionLines.append(0x0a) }
            }, progress: { p in
                if p.done % 10 == 0 || p.done == p.total {
                    let el = Date().timeIntervalSince(start)
                    stderr(String(format: "%@ %d/%d | ROUGE-1 F %.2f | EM %.2f | SQuAD F1 %.2f | %.0fs | ETA %.0fs",
                                  set.name, p.done, p.total, p.scores.rouge1F, p.scores.em, p.scores.squadF1, el,
                                  el / Double(p.done) * Double(p.total - p.done)))
                }
            })
            rows.append(row)
        }
        let report = EvaluationReport(datasets: rows)
        // Summaries (QMSum) get the summary ROUGE columns too.
        print(report.markdown(summary: sets.contains { $0.examples.first?.source == "QMSum" }), terminator: "")
        if let json { try report.writeJSON(to: URL(fileURLWithPath: json)) }
        if let predictions { try AtomicFile.write(predictionLines, to: predictions) }
    }
}
