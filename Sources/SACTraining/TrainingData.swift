import Foundation
import SACCompression
import SACData
import SACModel
import SACTensor

/// Errors in assembling training data.
public enum TrainingDataError: Error, CustomStringConvertible {
    case noData(detail: String)
    case unsupportedFile(file: String)

    public var description: String {
        switch self {
        case .noData(let d): return "no training data: \(d)"
        case .unsupportedFile(let f):
            return "\(f): unsupported data file (expected \(DataFile.accepted))"
        }
    }
}

/// Reads data files by extension: MRQA `.jsonl`/`.jsonl.gz`, SQuAD v1.1 `.json`, text `.txt`.
public struct DataFiles: Sendable {
    public var qa: [QAExample] = []
    /// Plain-text documents (text files split on blank lines, and, for LM/AE objectives, the
    /// distinct contexts of QA files).
    public var texts: [String] = []
    /// Lines that could not be read, per file.
    public var skipped: [(file: String, line: SkippedLine)] = []
    /// A fingerprint of the files (names and sizes), to refuse resuming on other data.
    public var fingerprint = ""

    public init(paths: [String], limit: Int? = nil) throws {
        var fp: [String] = []
        for path in paths {
            let url = URL(fileURLWithPath: path)
            let name = url.lastPathComponent
            let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? -1
            fp.append("\(name):\(size)")
            switch DataFile.kind(of: path) {
            case .mrqa?, .squad?:
                let r = try DataFile.readQA(url: url, limit: limit)
                qa.append(contentsOf: r.examples)
                skipped.append(contentsOf: r.skipped.map { (path, $0) })
            case .text?:
                let text = try TextCorpus.read(url: url, repairingInvalidUTF8: true)
                texts.append(contentsOf: TextCorpus.documents(in: text, minCharacters: 1))
            case nil:
                throw TrainingDataError.unsupportedFile(file: path)
            }
        }
        fingerprint = fp.joined(separator: ",")
    }
}

/// Training and validation examples for an objective, drawn deterministically: example k of
/// the training stream depends only on (seed, k), so a resumed run sees exactly the data
/// an uninterrupted one would.
///
/// - Held out: the last `validContexts` distinct contexts of the QA files (all of their
///   questions) are never trained on, in any objective (for LM/AE their text is left out of
///   the stream too). With no more than `validContexts` contexts in all, the last 5 % are held out.
///   `validationQA(limit:)` spreads its questions over the held-out contexts.
/// - QA: one example per question of the other contexts. With `multiChunkFraction` > 0, that
///   share of the examples (chosen by (seed, k)) read their paragraph placed among
///   `distractors` other training paragraphs at a random position: contexts longer than a chunk.
/// - LM/AE: documents are tokenized into one stream; example k is a window of n tokens
///   (n uniform in `lmTokens`) at a seeded offset in the first 98 % of the stream; validation
///   windows come from the last 2 %. LM: encoder [BOS] + first half, decoder [LM] + second
///   half + [EOS]. AE: decoder [AE] reconstructs encoder input + [EOS].
public final class TrainingData: @unchecked Sendable {
    public let objective: Objective
    public let seed: UInt64
    public let prompt: QAPrompt
    let lmTokens: ClosedRange<Int>
    /// Share of QA examples whose paragraph sits among `distractors` others.
    public let multiChunkFraction: Double
    public let distractors: Int
    var qaTrain: [QAExample] = []
    /// Every question of the held-out contexts, in file order.
    public private(set) var qaHeldOut: [QAExample] = []
    /// Distinct training contexts (for distractor paragraphs).
    var trainContexts: [String] = []
    var stream: [Int32] = []
    var trainEnd = 0

    public init(
        files: DataFiles, objective: Objective, prompt: QAPrompt, lmTokens: ClosedRange<Int> = 510...1020,
        seed: UInt64, validContexts: Int = 100, multiChunkFraction: Double = 0, distractors: Int = 3
    ) throws {
        self.objective = objective
        self.seed = seed
        self.prompt = prompt
        self.lmTokens = lmTokens
        self.multiChunkFraction = multiChunkFraction
        self.distractors = distractors
        guard multiChunkFraction >= 0, multiChunkFraction <= 1, distractors >= 1 else {
            throw TrainingDataError.noData(detail: "multi-chunk fraction \(multiChunkFraction) must be in [0, 1] with ≥ 1 distractor")
        }
        var contexts: [String] = []
        var seen = Set<String>()
        for e in files.qa where seen.insert(e.context).inserted { contexts.append(e.context) }
        let heldCount = contexts.count > validContexts ? validContexts : max(1, contexts.count / 20)
        let held = Set(contexts.isEmpty ? [] : contexts.suffix(heldCount))
        trainContexts = contexts.filter { !held.contains($0) }
        for e in files.qa where held.contains(e.context) { qaHeldOut.append(e) }
        if objective == .qa {
            guard !files.qa.isEmpty else { throw TrainingDataError.noData(detail: "objective qa needs MRQA or SQuAD files") }
            for e in files.qa where !held.contains(e.context) { qaTrain.append(e) }
            if qaTrain.isEmpty { qaTrain = qaHeldOut }
            if trainContexts.isEmpty { trainContexts = contexts }
        } else {
            var docs = files.texts
            docs.append(contentsOf: trainContexts)
            guard !docs.isEmpty else { throw TrainingDataError.noData(detail: "objective \(objective.rawValue) needs text") }
            for d in docs {
                stream.append(contentsOf: prompt.tokenizer.encode(d, addSpecialTokens: false))
                stream.append(prompt.eos)
            }
            guard stream.count >= lmTokens.upperBound * 2 else {
                throw TrainingDataError.noData(
                    detail: "\(stream.count) tokens of text, need at least \(lmTokens.upperBound * 2) for windows of up to \(lmTokens.upperBound)")
            }
            trainEnd = stream.count - max(lmTokens.upperBound, stream.count / 50)
        }
    }

    /// Up to `limit` held-out questions, spread over the held-out contexts (round-robin: the
    /// first question of every context, then the second, …), grouped by context in file order.
    public func validationQA(limit: Int) -> [QAExample] {
        var groups: [[QAExample]] = []
        for e in qaHeldOut {
            if let last = groups.last?.last, last.context == e.context { groups[groups.count - 1].append(e) } else { groups.append([e]) }
        }
        var taken = [Int](repeating: 0, count: groups.count)
        var n = 0, round = 0
        while n < limit {
            var any = false
            for g in groups.indices where n < limit && round < groups[g].count {
                taken[g] += 1; n += 1; any = true
            }
            if !any { break }
            round += 1
        }
        return groups.indices.flatMap { groups[$0].prefix(taken[$0]) }
    }

    /// Number of distinct training examples (QA questions, or text windows' start offsets).
    public var trainCount: Int { objective == .qa ? qaTrain.count : trainEnd }

    /// Training example k (any k ≥ 0; epochs reshuffle).
    public func trainExample(_ k: Int) -> TrainingExample {
        var rng = SplitMix64(seed: seed &* 0x2545_F491_4F6C_DD1D &+ UInt64(k))
        if objective == .qa {
            let n = qaTrain.count
            let epoch = k / n
            let order = permutation(n, seed: seed &+ UInt64(epoch) &* 7919)
            let e = qaTrain[order[k % n]]
            // A separate stream of draws, so that the examples without distractors are those
            // of a run without them.
            var mix = SplitMix64(seed: seed &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(k) &+ 0x51)
            let u = Double(mix.next() >> 11) / Double(1 << 53)
            if multiChunkFraction > 0 && u < multiChunkFraction && trainContexts.count > 1 {
                return qaExample(e, context: multiChunkContext(e.context, rng: &mix))
            }
            return qaExample(e)
        }
        let len = lmTokens.lowerBound + Int(rng.next() % UInt64(lmTokens.count))
        let start = Int(rng.next() % UInt64(max(1, trainEnd - len)))
        return windowExample(Array(stream[start..<(start + len)]))
    }

    /// `paragraph` placed among `distractors` other training paragraphs (drawn without
    /// repeats, never `paragraph` itself) at a random position, joined by blank lines.
    public func multiChunkContext(_ paragraph: String, rng: inout SplitMix64) -> String {
        var others: [String] = []
        var tries = 0
        while others.count < distractors && tries < distractors * 20 {
            tries += 1
            let c = trainContexts[Int(rng.next() % UInt64(trainContexts.count))]
            if c != paragraph && !others.contains(c) { others.append(c) }
        }
        let at = Int(rng.next() % UInt64(others.count + 1))
        others.insert(paragraph, at: at)
        return others.joined(separator: "\n\n")
    }

    /// The fixed validation examples (for the loss): QA, the first of `validationQA`.
    public func validationExamples(limit: Int = 32) -> [TrainingExample] {
        if objective == .qa { return validationQA(limit: limit).map { qaExample($0) } }
        var out: [TrainingExample] = []
        var start = trainEnd
        let len = (lmTokens.lowerBound + lmTokens.upperBound) / 2
        while out.count < limit && start + len <= stream.count {
            out.append(windowExample(Array(stream[start..<(start + len)])))
            start += len
        }
        return out
    }

    func qaExample(_ e: QAExample, context: String? = nil) -> TrainingExample {
        let seq = prompt.qaSequence(question: prompt.question(e.question), answer: prompt.answer(e.answers.first ?? ""))
        return TrainingExample(context: prompt.context(context ?? e.context), decoders: [(seq, .qa)])
    }

    func windowExample(_ ids: [Int32]) -> TrainingExample {
        let half = ids.count / 2
        let enc = [prompt.bos] + ids[..<half]
        var decoders: [(DecoderSequence, LossKind)] = []
        if objective == .lm || objective == .aeLM {
            let target = Array(ids[half...]) + [prompt.eos]
            decoders.append((DecoderSequence(soft: .lm, ids: Array(target.dropLast()), targets: target), .lm))
        }
        if objective == .ae || objective == .aeLM {
            let target = enc + [prompt.eos]
            decoders.append((DecoderSequence(soft: .ae, ids: Array(target.dropLast()), targets: target), .ae))
        }
        return TrainingExample(context: enc, decoders: decoders)
    }

    func permutation(_ n: Int, seed: UInt64) -> [Int] {
        var rng = SplitMix64(seed: seed)
        var p = Array(0..<n)
        for i in stride(from: n - 1, to: 0, by: -1) { p.swapAt(i, Int(rng.next() % UInt64(i + 1))) }
        return p
    }
}
