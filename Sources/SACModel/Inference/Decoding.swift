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

extension LlamaModel {
    /// The decode loop, the only one: from the `logits` of a prefill that left `cache` at the
    /// last prompt position, picks tokens with `sampler` until it picks one of `stopTokens`
    /// (`.stop`; that token is neither returned nor given to `onToken`), `maxTokens` tokens
    /// are out (`.length`), or `onToken`, called with each new token as it comes, returns
    /// false (`.cancelled`). Each kept token but the last is read into `cache`.
    public func decode(
        from logits: [Float], cache: KVCache, maxTokens: Int, sampler: Sampler, stopTokens: Set<Int32>,
        onToken: (Int32) -> Bool = { _ in true }
    ) throws -> Decoded {
        let start = DispatchTime.now().uptimeNanoseconds
        var sampler = sampler
        var logits = logits
        var out: [Int32] = []
        var steps = 0
        var finish = FinishReason.length
        while out.count < maxTokens {
            let next = sampler.next(logits)
            if stopTokens.contains(next) { finish = .stop; break }
            out.append(next)
            if !onToken(next) { finish = .cancelled; break }
            if out.count == maxTokens { break }
            logits = try forward([next], cache: cache, logits: .last)
            steps += 1
        }
        return Decoded(
            tokens: out, finish: finish, steps: steps,
            seconds: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
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
