import ArgumentParser
import Foundation
import SACCompression
import SACModel
import SACTensor

struct BenchTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "One SAC training step on a 510-token context, and answer latency from a memory vs the full context.",
        discussion: """
            The step: encoder (LoRA q_proj/v_proj on, anchor embedding, bidirectional, keys/values only) over \
            --context-tokens tokens, the anchors' KV handed to the frozen decoder reading [LM] + question + \
            answer, cross-entropy on the answer, backward through decoder and encoder, clipping, AdamW. \
            Weights are Float32 (the GGUF dequantised), as PyTorch holds them. The answer latency is the time \
            to the first token with the quantised model (what `sac answer` runs): from an already compressed \
            5x memory vs from the whole context. scripts/bench_train.py runs PyTorch beside it.
            """)

    @OptionGroup var modelOptions: ModelOptions
    @Option(help: "Context length in tokens (one chunk at 510).") var contextTokens = 510
    @Option(help: "Timed training steps (after one warm-up step).") var steps = 5
    @Option(help: "LoRA rank (alpha = 2·rank).") var rank = 128
    @Option(help: "Repetitions of each latency measurement (median reported).") var repeats = 5
    @Flag(help: "Print one JSON line instead of a table.") var json = false

    func validate() throws {
        if contextTokens < 8 || steps < 1 || rank < 1 || repeats < 1 {
            throw ValidationError("--context-tokens ≥ 8, --steps, --rank and --repeats ≥ 1")
        }
    }

    static func median(_ xs: [Double]) -> Double {
        let s = xs.sorted()
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }

    static func time(_ body: () throws -> Void) rethrows -> Double {
        let t = DispatchTime.now().uptimeNanoseconds
        try body()
        return Double(DispatchTime.now().uptimeNanoseconds - t) / 1e9
    }

    func run() throws {
        let loaded = try modelOptions.load(quiet: json, dequantize: true)
        let model = loaded.model
        let prompt = try QAPrompt(tokenizer: loaded.tokenizer, config: model.config)
        var ids = prompt.context("")
        let passage = loaded.tokenizer.encode(BenchModel.text, addSpecialTokens: false)
        while ids.count < contextTokens { ids += passage }
        ids = Array(ids.prefix(contextTokens))
        let q = prompt.question("What does the keeper of the lighthouse do every night?")
        let a = prompt.answer("He lights the lamp")
        let seq = prompt.qaSequence(question: q, answer: a)
        let settings = CompressorSettings(method: .sac, ratio: 5, lora: LoRAConfig(rank: rank, alpha: Float(2 * rank)))
        let comp = try Compressor(model: model, settings: settings, seed: 1)
        let params = comp.parameters
        let opt = try AdamW(groups: [.init(params: params, weightDecay: 0.1)], lr: 1e-4, betas: (0.9, 0.95))
        func step() throws {
            opt.zeroGrad()
            _ = try comp.loss(context: ids, decoder: seq)
            _ = try clipGradNorm(params, maxNorm: 2)
            opt.step()
        }
        try step()  // warm-up
        var stepTimes: [Double] = [], encoderTimes: [Double] = [], forwardTimes: [Double] = []
        for _ in 0..<steps {
            stepTimes.append(try Self.time(step))
            encoderTimes.append(try Self.time { _ = try comp.compress(ids) })
            forwardTimes.append(try Self.time { _ = try comp.loss(context: ids, decoder: seq, backward: false) })
        }
        let stepS = Self.median(stepTimes), encS = Self.median(encoderTimes), fwdS = Self.median(forwardTimes)
        let decoderTokens = seq.ids.count + 1

        // Answer latency with the quantised model, as `sac answer` runs it.
        let qmodel = try ModelLoader.load(path: modelOptions.model).model
        let qcomp = try Compressor(model: qmodel, settings: settings, seed: 1)
        let memory = try qcomp.compress(ids)
        let decoder = MemoryDecoder(model: qmodel)
        var fromMemory: [Double] = [], fromContext: [Double] = [], compressTimes: [Double] = []
        for _ in 0..<repeats {
            compressTimes.append(try Self.time { _ = try qcomp.compress(ids) })
            fromMemory.append(try decoder.answer(memory: memory, question: q, maxTokens: 1, stopTokens: []).prefillSeconds)
            fromContext.append(try decoder.answerFromContext(context: ids, question: q, maxTokens: 1, stopTokens: []).prefillSeconds)
        }
        let memS = Self.median(fromMemory), ctxS = Self.median(fromContext), cmpS = Self.median(compressTimes)
        let rss = Double(peakResidentBytes()) / 1_048_576
        if json {
            let obj: [String: Any] = [
                "context_tokens": ids.count, "decoder_tokens": decoderTokens, "carriers": memory.carriers, "rank": rank,
                "step_s": stepS, "step_s_all": stepTimes, "encoder_forward_s": encS, "loss_forward_s": fwdS,
                "ttft_memory_s": memS, "ttft_context_s": ctxS, "compress_s": cmpS, "peak_rss_mb": rss,
                "threads": Parallel.threads, "context_ids": ids.map { Int($0) }, "question_ids": q.map { Int($0) },
                "answer_ids": a.map { Int($0) },
            ]
            let data = try JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
            return
        }
        print("SAC 5x training step, \(ids.count)-token context, \(decoderTokens) decoder tokens, LoRA rank \(rank), \(Parallel.threads) threads")
        print(String(format: "  step (forward + backward + AdamW): %.0f ms  (%.0f tokens/s)", stepS * 1000,
                     Double(ids.count + decoderTokens) / stepS))
        print(String(format: "  of which encoder forward: %.0f ms, decoder forward + loss: %.0f ms, backward + update: %.0f ms",
                     encS * 1000, (fwdS - encS) * 1000, (stepS - fwdS) * 1000))
        print("Answer latency, \(ids.count)-token document (quantised model), time to first token:")
        print(String(format: "  from the compressed 5x memory (%d carriers): %.1f ms", memory.carriers, memS * 1000))
        print(String(format: "  from the full context: %.1f ms  (%.1fx slower)", ctxS * 1000, ctxS / memS))
        print(String(format: "  compressing (once, beforehand): %.0f ms", cmpS * 1000))
        print(String(format: "peak RSS %.0f MB", rss))
    }
}
