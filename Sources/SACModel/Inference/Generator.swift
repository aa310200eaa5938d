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
    public var promptTokensPerSecond: Double { promptSeconds > 0 ? Double(promptTokens) / promptSeconds : 0 }
    /// Decoding speed: forward passes of one token per second.
    public var generatedTokensPerSecond: Double {
        generateSeconds > 0 && decodeSteps > 0 ? Double(decodeSteps) / generateSeconds : 0
    }
}

extension LlamaModel {
    /// Reads `prompt` through `cache` (which may already hold a prefix, such as a compressed
    /// memory) and generates up to `maxTokens` tokens, stopping after any of `stopTokens`
    /// (which is not returned). `onToken` sees each new token as it is produced and can stop
    /// the run by returning false.
    ///
    /// - Returns: the generated ids and timings.
    public func generate(
        prompt: [Int32], positions: [Int32]? = nil, cache: KVCache, maxTokens: Int, sampler: Sampler,
        stopTokens: Set<Int32> = [], onToken: (Int32) -> Bool = { _ in true }
    ) throws -> (tokens: [Int32], stats: GenerationStats) {
        var sampler = sampler
        var stats = GenerationStats()
        var out: [Int32] = []
        guard maxTokens > 0 else { return (out, stats) }
        let start = DispatchTime.now().uptimeNanoseconds
        var logits = try forward(prompt, positions: positions, cache: cache, logits: .last)
        let afterPrompt = DispatchTime.now().uptimeNanoseconds
        stats.promptTokens = prompt.count
        stats.promptSeconds = Double(afterPrompt - start) / 1e9
        while true {
            let next = sampler.next(logits)
            if stopTokens.contains(next) { break }
            out.append(next)
            if !onToken(next) || out.count >= maxTokens { break }
            logits = try forward([next], cache: cache, logits: .last)
            stats.decodeSteps += 1
        }
        stats.generatedTokens = out.count
        stats.generateSeconds = Double(DispatchTime.now().uptimeNanoseconds - afterPrompt) / 1e9
        return (out, stats)
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
