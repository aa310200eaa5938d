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
            return "\(f): unsupported data file (expected .jsonl/.jsonl.gz MRQA, .json SQuAD v1.1, or .txt text)"
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
            fp.append("\(name):\(size ?? -1)")
            if name.hasSuffix(".jsonl") || name.hasSuffix(".jsonl.gz") || name.hasSuffix(".json") {
                let r = name.hasSuffix(".json") ? try SQuADReader.read(url: url) : try MRQAReader.read(url: url, limit: limit)
                qa.append(contentsOf: r.examples)
                skipped.append(contentsOf: r.skipped.map { (path, $0) })
            } else if name.hasSuffix(".txt") || name.hasSuffix(".txt.gz") {
                let text = try TextCorpus.read(url: url, repairingInvalidUTF8: true)
                texts.append(contentsOf: TextCorpus.documents(in: text, minCharacters: 1))
            } else {
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
/// - QA: one example per question; the last 5 % of contexts (at most `validLimit`
///   questions) are held out for validation.
/// - LM/AE: documents are tokenized into one stream; example k is a window of n tokens
///   (n uniform in `lmTokens`) at a seeded offset in the first 98 % of the stream; validation
///   windows come from the last 2 %. LM: encoder [BOS] + first half, decoder [LM] + second
///   half + [EOS]. AE: decoder [AE] reconstructs encoder input + [EOS].
public final class TrainingData: @unchecked Sendable {
    public let objective: Objective
    public let seed: UInt64
    let prompt: QAPrompt
    let lmTokens: ClosedRange<Int>
    var qaTrain: [QAExample] = []
    var qaValid: [QAExample] = []
    var stream: [Int32] = []
    var trainEnd = 0

    public init(
        files: DataFiles, objective: Objective, prompt: QAPrompt, lmTokens: ClosedRange<Int> = 510...1020,
        seed: UInt64, validLimit: Int = 64
    ) throws {
        self.objective = objective
        self.seed = seed
        self.prompt = prompt
        self.lmTokens = lmTokens
        if objective == .qa {
            guard !files.qa.isEmpty else { throw TrainingDataError.noData(detail: "--objective qa needs MRQA or SQuAD files") }
            var contexts: [String] = []
            var seen = Set<String>()
            for e in files.qa where seen.insert(e.context).inserted { contexts.append(e.context) }
            let held = Set(contexts.suffix(max(1, contexts.count / 20)))
            for e in files.qa { if held.contains(e.context) { qaValid.append(e) } else { qaTrain.append(e) } }
            if qaTrain.isEmpty { qaTrain = qaValid }
            qaValid = Array(qaValid.prefix(validLimit))
        } else {
            var docs = files.texts
            var seen = Set<String>()
            for e in files.qa where seen.insert(e.context).inserted { docs.append(e.context) }
            guard !docs.isEmpty else { throw TrainingDataError.noData(detail: "--objective \(objective.rawValue) needs text") }
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

    /// Number of distinct training examples (QA questions, or text windows' start offsets).
    public var trainCount: Int { objective == .qa ? qaTrain.count : trainEnd }

    /// Training example k (any k ≥ 0; epochs reshuffle).
    public func trainExample(_ k: Int) -> TrainingExample {
        var rng = SplitMix64(seed: seed &* 0x2545_F491_4F6C_DD1D &+ UInt64(k))
        if objective == .qa {
            let n = qaTrain.count
            let epoch = k / n
            let order = permutation(n, seed: seed &+ UInt64(epoch) &* 7919)
            return qaExample(qaTrain[order[k % n]])
        }
        let len = lmTokens.lowerBound + Int(rng.next() % UInt64(lmTokens.count))
        let start = Int(rng.next() % UInt64(max(1, trainEnd - len)))
        return windowExample(Array(stream[start..<(start + len)]))
    }

    /// The fixed validation examples.
    public func validationExamples(limit: Int = 32) -> [TrainingExample] {
        if objective == .qa { return qaValid.prefix(limit).map(qaExample) }
        var out: [TrainingExample] = []
        var start = trainEnd
        let len = (lmTokens.lowerBound + lmTokens.upperBound) / 2
        while out.count < limit && start + len <= stream.count {
            out.append(windowExample(Array(stream[start..<(start + len)])))
            start += len
        }
        return out
    }

    func qaExample(_ e: QAExample) -> TrainingExample {
        let seq = prompt.qaSequence(question: prompt.question(e.question), answer: prompt.answer(e.answers.first ?? ""))
        return TrainingExample(context: prompt.context(e.context), decoders: [(seq, .qa)])
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
