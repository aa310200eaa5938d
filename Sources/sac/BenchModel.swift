import ArgumentParser
import Foundation
import SACModel
import SACTensor

struct BenchModel: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model",
        abstract: "Prefill and decoding speed of the LLM, and peak memory.",
        discussion: """
            Prefills a prompt of --prompt-tokens tokens (cut from a built-in public-domain text), \
            then decodes --decode tokens greedily with the KV cache. Reports the best of --repeats \
            prefills. scripts/bench_model.py runs PyTorch on the same prompt beside it.
            """)

    @OptionGroup var modelOptions: ModelOptions
    @Option(help: "Prompt length in tokens.") var promptTokens = 512
    @Option(help: "Decoding steps.") var decode = 64
    @Option(help: "Prefill repetitions (the best is reported).") var repeats = 3
    @Flag(help: "Print one JSON line instead of a table.") var json = false

    func validate() throws {
        if promptTokens < 1 || decode < 0 || repeats < 1 {
            throw ValidationError("--prompt-tokens and --repeats must be ≥ 1, --decode ≥ 0")
        }
    }

    func run() throws {
        let loaded = try modelOptions.load(quiet: json)
        let model = loaded.model
        var ids: [Int32] = []
        let passage = loaded.tokenizer.encode(BenchModel.text, addSpecialTokens: false)
        while ids.count < promptTokens { ids += passage }
        ids = Array(ids.prefix(promptTokens))
        // Warm-up, then the best of `repeats` prefills.
        _ = try model.forward(Array(ids.prefix(16)), cache: model.makeCache(), logits: .last)
        var best = Double.infinity
        var cache = model.makeCache(capacity: promptTokens + decode)
        var logits: [Float] = []
        for _ in 0..<repeats {
            cache = model.makeCache(capacity: promptTokens + decode)
            let t = DispatchTime.now().uptimeNanoseconds
            logits = try model.forward(ids, cache: cache, logits: .last)
            best = min(best, Double(DispatchTime.now().uptimeNanoseconds - t) / 1e9)
        }
        var next = Sampler.argmax(logits)
        let t = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<decode {
            logits = try model.forward([next], cache: cache, logits: .last)
            next = Sampler.argmax(logits)
        }
        let decodeSeconds = Double(DispatchTime.now().uptimeNanoseconds - t) / 1e9
        let prefillRate = Double(ids.count) / best
        let decodeRate = decode > 0 ? Double(decode) / decodeSeconds : 0
        let rssMB = Double(peakResidentBytes()) / 1_048_576
        if json {
            let obj: [String: Any] = [
                "model": loaded.name, "threads": Parallel.threads, "decode_activations": loaded.model.decodeActivations.rawValue, "prompt_ids": ids.map(Int.init),
                "prefill_tokens": ids.count, "prefill_tok_s": prefillRate, "decode_tokens": decode,
                "decode_tok_s": decodeRate, "peak_rss_mb": rssMB,
            ]
            let data = try JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } else {
            print("model: \(loaded.name), threads: \(Parallel.threads), decode activations: \(loaded.model.decodeActivations)")
            print(String(format: "prefill: %d tokens in %.1f ms = %.1f tokens/s", ids.count, best * 1000, prefillRate))
            print(String(format: "decode:  %d tokens in %.1f ms = %.1f tokens/s", decode, decodeSeconds * 1000, decodeRate))
            print(String(format: "peak resident memory: %.0f MB", rssMB))
        }
    }

    /// Public-domain English prose (Lincoln, Second Inaugural Address, 1865), repeated to length.
    static let text = """
        Fellow-Countrymen: At this second appearing to take the oath of the Presidential office there \
        is less occasion for an extended address than there was at the first. Then a statement somewhat \
        in detail of a course to be pursued seemed fitting and proper. Now, at the expiration of four \
        years, during which public declarations have been constantly called forth on every point and \
        phase of the great contest which still absorbs the attention and engrosses the energies of the \
        nation, little that is new could be presented. The progress of our arms, upon which all else \
        chiefly depends, is as well known to the public as to myself, and it is, I trust, reasonably \
        satisfactory and encouraging to all. With high hope for the future, no prediction in regard to it \
        is ventured. On the occasion corresponding to this four years ago all thoughts were anxiously \
        directed to an impending civil war. All dreaded it, all sought to avert it. While the inaugural \
        address was being delivered from this place, devoted altogether to saving the Union without war, \
        urgent agents were in the city seeking to destroy it without war, seeking to dissolve the Union \
        and divide effects by negotiation. Both parties deprecated war, but one of them would make war \
        rather than let the nation survive, and the other would accept war rather than let it perish, \
        and the war came. One-eighth of the whole population were colored slaves, not distributed \
        generally over the Union, but localized in the southern part of it. These slaves constituted a \
        peculiar and powerful interest. All knew that this interest was somehow the cause of the war. \
        With malice toward none, with charity for all, with firmness in the right as God gives us to see \
        the right, let us strive on to finish the work we are in, to bind up the nation's wounds, to care \
        for him who shall have borne the battle and for his widow and his orphan, to do all which may \
        achieve and cherish a just and lasting peace among ourselves and with all nations.

        """
}
