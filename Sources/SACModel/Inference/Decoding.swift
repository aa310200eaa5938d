import Foundation
import SACTensor

/// What a generation run measured.
public struct GenerationStats: Sendable {
    /// Tokens read before generating (not counting a prefix already in the cache).
    public var promptTokens = 0
    /// Seconds to read them (prefill).
    public var promptSeconds = 0.0
    /// Tokens generated.
    public var generatedTokens = 0
    /// Forward passes after the prefill (one per generated token but the last).
    public var decodeSteps = 0
    /// Seconds spent generating after the prefill.
    public var generateSeconds = 0.0
    /// Why generation ended (`.length` also when `maxTokens` was 0).
    public var finish = FinishReason.length
    public var promptTokensPerSecond: Double { promptSeconds > 0 ? Double(promptTokens) / promptSeconds : 0 }
    /// Decoding speed: forward passes of one token per second.
    public var generatedTokensPerSecond: Double {
        generateSeconds > 0 && decodeSteps > 0 ? Double(decodeSteps) / generateSeconds : 0
    }
}

/// Why a generation ended.
public enum FinishReason: String, Sendable, Equatable {
    /// The sampler picked one of the stop tokens (not returned).
    case stop
    /// `maxTokens` tokens were generated.
    case length
    /// The token callback asked to stop.
    case cancelled
}

/// What the decode loop produced after a prefill.
public struct Decoded: Sendable {
    /// Generated ids, without the stop token.
    public var tokens: [Int32]
    public var finish: FinishReason
    /// Forward passes of one token (one per generated token but the last).
    public var steps: Int
    /// Seconds in the loop.
    public var seconds: Double
    /// For a state made with its prompt still to read (`DecodeState(prompt:…)`): seconds from
    /// its creation until the prompt was read and the first token could be picked (the time to
    /// first token, queueing among other prompts included). Nil for a state made from logits.
    public var prefillSeconds: Double? = nil
}

extension Tokenizer {
    /// The ids that end a generation with `config`'s model: the tokenizer's EOS and the
    /// config's (a GGUF's tokenizer and its generation settings may name different ones).
    /// Every generating path (`sac answer`, `demo`, `eval`, `generate`, the server's answers
    /// and chat) stops on this set; `QAPrompt.stopTokens` adds the template's EOS.
    public func stopTokens(config: LlamaConfig) -> Set<Int32> {
        var s: Set<Int32> = []
        if let e = eosTokenId { s.insert(Int32(e)) }
        if let e = config.eosTokenId { s.insert(Int32(e)) }
        return s
    }
}

/// One sequence in the decode loop: what the loop keeps between steps. Several of them
/// step together (`LlamaModel.decodeStep`), which is how the server batches requests.
public struct DecodeState: Sendable {
    /// The sequence's cache, at its last read position.
    public let cache: KVCache
    public let maxTokens: Int
    public let stopTokens: Set<Int32>
    var sampler: Sampler
    /// Logits of the last position read (empty while `pending` is being read).
    var logits: [Float]
    /// The prompt still to read, for a state made with `init(prompt:…)`: the decode loop
    /// reads it `DecodeState.promptChunk` rows a step, beside the other sequences' tokens.
    var pending: PendingPrompt?
    /// See `Decoded.prefillSeconds`.
    public private(set) var prefillSeconds: Double?
    /// Kept tokens so far (no stop token).
    public private(set) var tokens: [Int32] = []
    /// Why the sequence ended; nil while it runs.
    public private(set) var finish: FinishReason?
    /// Forward passes of one token so far.
    public private(set) var steps = 0
    let start = DispatchTime.now().uptimeNanoseconds
    /// Seconds from the state's creation to its end (or to now while it runs).
    public private(set) var seconds = 0.0

    /// A sequence whose prefill left `cache` at its last prompt position with `logits`.
    public init(logits: [Float], cache: KVCache, maxTokens: Int, sampler: Sampler, stopTokens: Set<Int32>) {
        self.logits = logits
        self.cache = cache
        self.maxTokens = maxTokens
        self.sampler = sampler
        self.stopTokens = stopTokens
        if maxTokens <= 0 { end(.length) }
    }

    /// A sequence whose prompt is still to be read: input `embeddings` `[rows × hidden]` at
    /// RoPE `positions` (nil: `cache.nextPosition + 0, 1, …`), after what `cache` already holds
    /// (such as a compressed memory). The decode loop (`LlamaModel.decodeStep`) reads it in
    /// chunks of `promptChunk` rows together with the other sequences' tokens, so a new
    /// request's prefill shares the passes over the weights instead of stopping them. The
    /// chunks are the same under any load, so the answer is too.
    /// - Throws: `TensorError.shapeMismatch` for embeddings that are not whole rows of
    ///   `hidden` (or none) and positions that do not match them.
    public init(prompt embeddings: [Float], positions: [Int32]? = nil, hidden: Int, cache: KVCache, maxTokens: Int,
                sampler: Sampler, stopTokens: Set<Int32>) throws {
        guard hidden > 0, !embeddings.isEmpty, embeddings.count % hidden == 0 else {
            throw TensorError.shapeMismatch(
                op: "DecodeState(prompt:)", detail: "\(embeddings.count) embedding floats is not a positive multiple of hidden size \(hidden)")
        }
        let rows = embeddings.count / hidden
        if let positions, positions.count != rows {
            throw TensorError.shapeMismatch(op: "DecodeState(prompt:)", detail: "\(positions.count) positions for \(rows) rows")
        }
        let p = positions ?? (0..<rows).map { cache.nextPosition + Int32($0) }
        self.init(logits: [], cache: cache, maxTokens: maxTokens, sampler: sampler, stopTokens: stopTokens)
        pending = PendingPrompt(embeddings: embeddings, positions: p, hidden: hidden)
    }

    /// Rows of a prompt read in one step of the decode loop: bounds how long one step (and so
    /// every other sequence's next token) waits on a new request's prefill.
    public static let promptChunk = 32

    /// Whether the state's prompt is still being read.
    public var isReadingPrompt: Bool { pending != nil && finish == nil }

    /// The result so far.
    public var decoded: Decoded {
        Decoded(tokens: tokens, finish: finish ?? .length, steps: steps, seconds: seconds, prefillSeconds: prefillSeconds)
    }

    private mutating func end(_ f: FinishReason) {
        finish = f
        seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }

    /// Picks the next token from the logits. Returns it when the sequence goes on (the
    /// caller reads it and sets the logits); nil when the sequence ended now or before: on a
    /// stop token (not kept, not given to `onToken`), at `maxTokens`, or when `onToken`
    /// returned false.
    mutating func advance(onToken: (Int32) -> Bool) -> Int32? {
        guard finish == nil else { return nil }
        let next = sampler.next(logits)
        if stopTokens.contains(next) { end(.stop); return nil }
        tokens.append(next)
        if !onToken(next) { end(.cancelled); return nil }
        if tokens.count >= maxTokens { end(.length); return nil }
        return next
    }

    mutating func read(_ newLogits: [Float]) {
        logits = newLogits
        steps += 1
    }

    /// The next chunk of the pending prompt, as a batch item for `forward(batch:)` (logits
    /// only at the prompt's last row).
    func promptItem() -> LlamaModel.BatchItem {
        let p = pending!, d = p.hidden
        let end = min(p.read + DecodeState.promptChunk, p.positions.count)
        return LlamaModel.BatchItem(
            embeddings: Array(p.embeddings[(p.read * d)..<(end * d)]), positions: Array(p.positions[p.read..<end]),
            cache: cache, logits: end == p.positions.count)
    }

    /// Records that the chunk of `promptItem()` was read, with its `logits` (used after the last chunk).
    mutating func readPrompt(_ newLogits: [Float]) {
        guard var p = pending else { return }
        p.read = min(p.read + DecodeState.promptChunk, p.positions.count)
        if p.read < p.positions.count { pending = p; return }
        pending = nil
        logits = newLogits
        prefillSeconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }
}

/// A prompt that a `DecodeState` has still to read: `embeddings` `[rows × hidden]` at `positions`,
/// the first `read` rows of them already in the cache.
struct PendingPrompt: Sendable {
    let embeddings: [Float]
    let positions: [Int32]
    let hidden: Int
    var read = 0
}

extension LlamaModel {
    /// The decode loop, the only one: from the `logits` of a prefill that left `cache` at the
    /// last prompt position, picks tokens with `sampler` until it picks one of `stopTokens`
    /// (`.stop`; that token is neither returned nor given to `onToken`), `maxTokens` tokens
    /// are out (`.length`), or `onToken`, called with each new token as it comes, returns
    /// false (`.cancelled`). Each kept token but the last is read into `cache`. It is
    /// `decodeStep` on a batch of one.
    public func decode(
        from logits: [Float], cache: KVCache, maxTokens: Int, sampler: Sampler, stopTokens: Set<Int32>,
        onToken: (Int32) -> Bool = { _ in true }
    ) throws -> Decoded {
        var states = [DecodeState(logits: logits, cache: cache, maxTokens: maxTokens, sampler: sampler, stopTokens: stopTokens)]
        while states[0].finish == nil {
            try decodeStep(&states) { _, t in onToken(t) }
        }
        return states[0].decoded
    }

    /// One step of the decode loop for several sequences: each running state picks its next
    /// token (`onToken(index, token)` sees it as it comes), and those that go on read theirs
    /// together in one `forward(batch:)`, a single pass over the weights. States still reading
    /// their prompt (`DecodeState(prompt:…)`) read their next chunk of it in the same pass, in
    /// order, while the chunks read this step number at most `promptRows` rows (at least one
    /// chunk is read each step, so a prompt never starves). A sequence's tokens are exactly
    /// those it gets decoded alone. States that had ended are left as they are.
    public func decodeStep(
        _ states: inout [DecodeState], promptRows: Int = 2 * DecodeState.promptChunk,
        onToken: (Int, Int32) -> Bool = { _, _ in true }
    ) throws {
        var reading: [Int] = [], prompting: [Bool] = []
        var items: [BatchItem] = []
        var promptBudget = promptRows, promptRead = false
        for i in states.indices {
            if states[i].isReadingPrompt {
                let item = states[i].promptItem()
                let rows = item.positions?.count ?? 0
                guard !promptRead || rows <= promptBudget else { continue }
                promptRead = true
                promptBudget -= rows
                reading.append(i); prompting.append(true); items.append(item)
            } else if let next = states[i].advance(onToken: { onToken(i, $0) }) {
                reading.append(i); prompting.append(false)
                items.append(BatchItem(embeddings: embed([next]), cache: states[i].cache))
            }
        }
        guard !items.isEmpty else { return }
        let logits = try forward(batch: items)
        for (j, i) in reading.enumerated() {
            if prompting[j] { states[i].readPrompt(logits[j]) } else { states[i].read(logits[j]) }
        }
    }
    /// Reads `prompt` through `cache` (which may already hold a prefix, such as a compressed
    /// memory) and generates up to `maxTokens` tokens with `decode`, stopping after any of
    /// `stopTokens` (which is not returned). `onToken` sees each new token as it is produced
    /// and can stop the run by returning false.
    ///
    /// - Returns: the generated ids and timings.
    public func generate(
        prompt: [Int32], positions: [Int32]? = nil, cache: KVCache, maxTokens: Int, sampler: Sampler,
        stopTokens: Set<Int32> = [], onToken: (Int32) -> Bool = { _ in true }
    ) throws -> (tokens: [Int32], stats: GenerationStats) {
        var stats = GenerationStats()
        guard maxTokens > 0 else { return ([], stats) }
        let start = DispatchTime.now().uptimeNanoseconds
        let logits = try forward(prompt, positions: positions, cache: cache, logits: .last)
        stats.promptTokens = prompt.count
        stats.promptSeconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        let d = try decode(from: logits, cache: cache, maxTokens: maxTokens, sampler: sampler, stopTokens: stopTokens,
                           onToken: onToken)
        stats.generatedTokens = d.tokens.count
        stats.decodeSteps = d.steps
        stats.generateSeconds = d.seconds
        stats.finish = d.finish
        return (d.tokens, stats)
    }
}

/// Peak resident memory of this process in bytes (Linux: VmHWM; elsewhere getrusage).
public func peakResidentBytes() -> Int {
    #if os(Linux)
    if let s = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) {
        for line in s.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            let kb = line.split(separator: " ").compactMap { Int($0) }.first ?? 0
            return kb * 1024
        }
    }
    #endif
    var usage = rusage()
    #if os(Linux)
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Int(usage.ru_maxrss) * 1024
    #else
    getrusage(RUSAGE_SELF, &usage)
    return Int(usage.ru_maxrss)
    #endif
}
