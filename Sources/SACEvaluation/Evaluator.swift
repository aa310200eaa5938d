import Foundation
import SACCompression
import SACData
import SACModel

/// One question's outcome, for `--predictions`.
public struct Prediction: Codable, Sendable {
    public var id: String
    public var question: String
    public var prediction: String
    public var answers: [String]
}

/// Progress of an evaluation: questions done, total, and the running scores.
public struct EvaluationProgress: Sendable {
    public var done: Int
    public var total: Int
    public var scores: QAScores
}

/// Runs a compressor over QA data the way it is used: each context is compressed once, then
/// every question about it is answered greedily from the memory by the frozen decoder, and
/// the answers are scored with the paper's and the SQuAD metrics.
public struct Evaluator {
    public let compressor: Compressor
    public let decoder: MemoryDecoder
    public let prompt: QAPrompt
    /// Generation limit per answer.
    public var maxNewTokens: Int
    /// Ids that end an answer (`QAPrompt.stopTokens`).
    public var stopTokens: Set<Int32> { prompt.stopTokens }
    /// Contexts compressed by the last `evaluate` (one per distinct context used).
    public private(set) var compressions = 0
    /// The no-context reference: the frozen model reads BOS and the question only
    /// (`Compressor.questionOnlyMemory`); the compressor is not used.
    public var questionOnly = false
    /// Memories are rounded to this dtype before answering, as a stored memory reads back
    /// (`.f32`: exact, the default here; `sac eval` uses `.f16`, what files store).
    public var memoryDType: MemoryDType = .f32

    public init(compressor: Compressor, prompt: QAPrompt, maxNewTokens: Int = 32) {
        self.compressor = compressor
        decoder = MemoryDecoder(model: compressor.model)
        self.prompt = prompt
        self.maxNewTokens = maxNewTokens
    }

    /// Scores of the data set `data` (at most `limit` questions): metrics in percent, the
    /// mean achieved compression ratio, the mean milliseconds to compress a context and to
    /// answer a question (prefill + generation).
    public mutating func evaluate(
        _ data: QAReadResult, limit: Int? = nil, predictions: ((Prediction) -> Void)? = nil,
        progress: ((EvaluationProgress) -> Void)? = nil
    ) throws -> DatasetScores {
        let total = min(limit ?? data.examples.count, data.examples.count)
        var scores = QAScores()
        var ratioSum = 0.0, compressSeconds = 0.0, answerSeconds = 0.0, firstTokenSeconds = 0.0
        var carrierSum = 0.0, memoryBytes = 0.0
        compressions = 0
        var done = 0
        outer: for group in data.contexts {
            if done >= total { break }
            let t0 = Date()
            let ids = prompt.context(group.context)
            let memory = questionOnly
                ? try compressor.questionOnlyMemory(bos: prompt.bos, contextTokens: ids.count)
                : try compressor.compress(ids).rounded(to: memoryDType)
            compressSeconds += Date().timeIntervalSince(t0)
            compressions += 1
            ratioSum += memory.achievedRatio
            carrierSum += Double(memory.carriers)
            memoryBytes += Double(memory.byteCount(stored: .f16))
            for i in group.range {
                if done >= total { break outer }
                let e = data.examples[i]
                let r = try decoder.answer(
                    memory: memory, question: prompt.question(e.question), maxTokens: maxNewTokens, stopTokens: stopTokens)
                answerSeconds += r.prefillSeconds + r.decodeSeconds
                firstTokenSeconds += r.prefillSeconds
                let text = prompt.text(r.ids)
                scores.add(prediction: text, answers: e.answers)
                predictions?(Prediction(id: e.id, question: e.question, prediction: text, answers: e.answers))
                done += 1
                progress?(EvaluationProgress(done: done, total: total, scores: scores))
            }
        }
        return DatasetScores(
            name: data.name, scores: scores, ratio: ratioSum / Double(max(1, compressions)),
            compressMs: 1000 * compressSeconds / Double(max(1, compressions)),
            answerMs: 1000 * answerSeconds / Double(max(1, done)),
            firstTokenMs: 1000 * firstTokenSeconds / Double(max(1, done)),
            carriers: carrierSum / Double(max(1, compressions)),
            memoryBytes: memoryBytes / Double(max(1, compressions)))
    }
}
