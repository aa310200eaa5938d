import ArgumentParser
import Foundation
import SACCompression
import SACModel
import SACTensor

struct BenchTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Speed of one SAC training step, of compressing, and of answering from a memory.",
        discussion: """
            One step = Compressor.loss (510-token context, one chunk, SAC 5x, LoRA q_proj,v_proj rank 128) \
            with backward through the frozen decoder and the encoder, gradient clipping at 2.0, an AdamW \
            step and zeroGrad, on the dequantised (Float32) model. Also times the encoder forward alone \
            (compress) and the time to first token answering from a stored 5x memory against reading the \
            whole context. scripts/bench_train.py runs the same step in PyTorch beside it.
            """)

    @OptionGroup var modelOptions: ModelOptions
    @Option(help: "Timed training steps.") var steps = 5
    @Option(help: "Untimed warm-up steps.") var warmup = 1
    @Option(help: "Runs of each answer prefill (the median is reported).") var answerRuns = 5
    @Option(help: "A text file for the context (default: a built-in public-domain text).") var text: String?
    @Flag(help: "Also time the parts of a step: encoder forward/backward, decoder forward/backward, optimiser.")
    var breakdown = false
    @Flag(help: "Print one JSON line instead of a table.") var json = false
    @Flag(help: "Also tally the timed steps' matrix products by shape (calls, thread time, GFLOP/s per thread).")
    var gemmProfile = false
    @Flag(inversion: .prefixedNo, help: "Keep the frozen weights packed for the GEMM, as `sac train` does.")
    var prepack = true
    @Flag(inversion: .prefixedNo, help: "Run the encoder's last two layers at the carrier rows only, as `sac train` and `sac compress` do.")
    var carrierRows = true
    @Flag(inversion: .prefixedNo, help: "Keep the encoder's attention probabilities for the backward instead of recomputing them, as `sac train` does.")
    var storedProbabilities = true
    @Option(help: "Also time the same step with distillation from this teacher ('frozen', or a trained adapter directory): the teacher's pass, cross-entropy + KL + hidden-state error, printed beside the plain step.")
    var teacher: String?

    func validate() throws {
        if steps < 1 || warmup < 0 || answerRuns < 1 {
            throw ValidationError("--steps and --answer-runs must be ≥ 1, --warmup ≥ 0")
        }
    }

    /// The question and answer of the benchmark, about the built-in text.
    static let question = "What did both parties deprecate, according to the address?"
    static let answer = "Both parties deprecated war."
    static let contextTokens = 510

    func run() throws {
        let start = Date()
        var loaded = try ModelLoader.load(path: modelOptions.model, dequantize: true)
        if prepack { loaded = loaded.prepacked(forward: true, backward: true, head: true) }
        if !json { stderr("loaded \(loaded.name) (dequantised) in \(String(format: "%.2f", Date().timeIntervalSince(start))) s") }
        let model = loaded.model
        let prompt = try QAPrompt(tokenizer: loaded.tokenizer, config: model.config)
        let context = try contextIds(prompt)
        let q = prompt.question(Self.question), a = prompt.answer(Self.answer)
        let seq = prompt.qaSequence(question: q, answer: a)
        let settings = CompressorSettings(method: .sac, ratio: 5)
        let compressor = try Compressor(model: model, settings: settings, seed: 1)
        compressor.encoderAtCarrierRows = carrierRows
        compressor.keepsAttentionProbabilities = storedProbabilities
        let optimizer = try AdamW(parameters: compressor.parameters, lr: 1e-4, betas: (0.9, 0.95), weightDecay: 0.1)
        let supervised = seq.targets.filter { $0 != CrossEntropy.defaultIgnoreIndex }.count
        let scale = 1 / Float(supervised)

        // Training steps.
        var stepSeconds: [Double] = [], losses: [Double] = []
        var products: [GEMMProfile.Entry]? = nil
        for i in 0..<(warmup + steps) {
            if gemmProfile && i == warmup { GEMMProfile.start() }
            let t = now()
            let r = try compressor.loss(context: context, decoder: seq, gradScale: scale, backward: true)
            try clipGradNorm(compressor.parameters, maxNorm: 2.0)
            optimizer.step()
            optimizer.zeroGrad()
            let dt = seconds(since: t)
            if i >= warmup { stepSeconds.append(dt); losses.append(r.lossSum / Double(r.count)) }
        }
        if gemmProfile { products = GEMMProfile.stop() }
        // The same step with distillation: the teacher's pass, then the three terms.
        var distilled: [Double] = [], teacherSeconds: [Double] = []
        if let teacher {
            let t: Teacher = teacher == "frozen"
                ? Teacher(model: model) : try Teacher(compressor: Compressor.load(adapter: teacher, model: model))
            let rows = Float(seq.ids.count + 1)
            for i in 0..<(warmup + steps) {
                let t0 = now()
                let targets = try t.targets(context: context, decoder: seq)
                let t1 = seconds(since: t0)
                _ = try compressor.loss(
                    context: context, decoders: [(seq, scale)],
                    distillation: [Distillation(teacher: targets, klScale: 1 / rows, hiddenScale: 1 / rows)], backward: true)
                try clipGradNorm(compressor.parameters, maxNorm: 2.0)
                optimizer.step()
                optimizer.zeroGrad()
                if i >= warmup { distilled.append(seconds(since: t0)); teacherSeconds.append(t1) }
            }
        }
        // Encoder forward alone.
        var compressSeconds: [Double] = []
        var memory = try compressor.compress(context)
        for _ in 0..<steps {
            let t = now()
            memory = try compressor.compress(context)
            compressSeconds.append(seconds(since: t))
        }
        // Time to first token: from the stored memory vs from the whole context.
        let decoder = MemoryDecoder(model: model)
        let stops = prompt.stopTokens
        var fromMemory: [Double] = [], fromContext: [Double] = []
        _ = try decoder.answer(memory: memory, question: q, maxTokens: 1, stopTokens: stops)
        for _ in 0..<answerRuns {
            fromMemory.append(try decoder.answer(memory: memory, question: q, maxTokens: 1, stopTokens: stops).prefillSeconds)
            fromContext.append(
                try decoder.answerFromContext(context: context, question: q, maxTokens: 1, stopTokens: stops).prefillSeconds)
        }
        let parts = breakdown ? try StepBreakdown.measure(
            compressor: compressor, optimizer: optimizer, context: context, decoder: seq, gradScale: scale, runs: steps) : nil

        let stepTokens = context.count + seq.ids.count + 1
        let report = BenchTrainReport(
            model: loaded.name, threads: Parallel.threads, contextIds: context, questionIds: q, answerIds: a,
            decoderTokens: seq.ids.count + 1, supervisedTokens: supervised, carriers: memory.carriers,
            steps: stepSeconds, losses: losses, stepTokens: stepTokens, compress: compressSeconds,
            answerFromMemory: median(fromMemory), answerFromContext: median(fromContext),
            peakRSSMB: Double(peakResidentBytes()) / 1_048_576, breakdown: parts, products: products)
        if json {
            var obj = report.json
            if teacher != nil {
                obj["distilled_step_ms"] = 1000 * median(distilled)
                obj["teacher_ms"] = 1000 * median(teacherSeconds)
            }
            let data = try JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } else {
            report.printTable()
            if let teacher {
                let plain = 1000 * median(stepSeconds), kd = 1000 * median(distilled)
                print("")
                print("| step (median of \(steps)) | ms | × plain |")
                print("|---|---:|---:|")
                print(String(format: "| cross-entropy (plain) | %.0f | 1.00 |", plain))
                print(String(format: "| distillation from %@ (CE + KL + hidden) | %.0f | %.2f |", teacher, kd, kd / plain))
                print(String(format: "| … of which the teacher's pass | %.0f | %.2f |", 1000 * median(teacherSeconds), 1000 * median(teacherSeconds) / plain))
            }
        }
    }

    /// [BOS] + tok("### Context:\n") + tok(text), cut to 510 tokens (the text repeated if short).
    func contextIds(_ prompt: QAPrompt) throws -> [Int32] {
        var body = BenchModel.text
        if let text {
            guard let s = try? String(contentsOfFile: text, encoding: .utf8) else {
                throw ValidationError("--text \(text): cannot read it as UTF-8 text")
            }
            body = s
        }
        let once = prompt.context(body)
        guard once.count > 1 + 4 else { throw ValidationError("--text \(text ?? "built-in"): the text has no tokens") }
        var ids = once
        let passage = Array(once.dropFirst())
        while ids.count < Self.contextTokens { ids += passage }
        return Array(ids.prefix(Self.contextTokens))
    }
}

/// The parts of one training step as `Compressor.loss` itself times them (its `stageTimes`
/// hook: the step, not a re-implementation of it), and the optimiser's update.
struct StepBreakdown {
    var encoderForward: Double
    var decoderForward: Double
    var decoderBackward: Double
    var encoderBackward: Double
    var optimizer: Double

    static func measure(
        compressor: Compressor, optimizer: AdamW, context: [Int32], decoder seq: DecoderSequence, gradScale: Float,
        runs: Int
    ) throws -> StepBreakdown {
        var stages: [LossStage: [Double]] = [:], opt: [Double] = []
        for run in 0...runs {
            var times: [LossStage: Double] = [:]
            _ = try compressor.loss(
                context: context, decoders: [(seq, gradScale)], distillation: nil, backward: true,
                stageTimes: { times[$0, default: 0] += $1 })
            let s = now()
            try clipGradNorm(compressor.parameters, maxNorm: 2.0)
            optimizer.step()
            optimizer.zeroGrad()
            let o = seconds(since: s)
            if run > 0 {  // the first run warms up
                for (stage, t) in times { stages[stage, default: []].append(t) }
                opt.append(o)
            }
        }
        func m(_ stage: LossStage) -> Double { median(stages[stage] ?? []) }
        return StepBreakdown(
            encoderForward: m(.encode), decoderForward: m(.decoderForward), decoderBackward: m(.decoderBackward),
            encoderBackward: m(.encoderBackward), optimizer: median(opt))
    }
}

/// What `sac bench train` measured.
struct BenchTrainReport {
    var model: String
    var threads: Int
    var contextIds: [Int32], questionIds: [Int32], answerIds: [Int32]
    var decoderTokens: Int, supervisedTokens: Int, carriers: Int
    var steps: [Double], losses: [Double]
    var stepTokens: Int
    var compress: [Double]
    var answerFromMemory: Double, answerFromContext: Double
    var peakRSSMB: Double
    var breakdown: StepBreakdown?
    /// The timed steps' matrix products by shape (`--gemm-profile`), or nil.
    var products: [GEMMProfile.Entry]?

    var json: [String: Any] {
        var o: [String: Any] = [
            "model": model, "threads": threads, "context_ids": contextIds.map(Int.init),
            "question_ids": questionIds.map(Int.init), "answer_ids": answerIds.map(Int.init),
            "context_tokens": contextIds.count, "decoder_tokens": decoderTokens, "supervised_tokens": supervisedTokens,
            "carriers": carriers, "steps": steps.count, "step_ms": steps.map { $0 * 1000 },
            "step_ms_median": median(steps) * 1000, "step_ms_mean": mean(steps) * 1000,
            "step_tok_s": Double(stepTokens) / median(steps), "losses": losses,
            "compress_ms_median": median(compress) * 1000, "compress_ms_mean": mean(compress) * 1000,
            "compress_tok_s": Double(contextIds.count) / median(compress),
            "ttft_memory_ms": answerFromMemory * 1000, "ttft_context_ms": answerFromContext * 1000,
            "ttft_speedup": answerFromContext / answerFromMemory, "peak_rss_mb": peakRSSMB,
        ]
        if let b = breakdown {
            o["breakdown_ms"] = [
                "encoder_forward": b.encoderForward * 1000, "decoder_forward": b.decoderForward * 1000,
                "decoder_backward": b.decoderBackward * 1000, "encoder_backward": b.encoderBackward * 1000,
                "optimizer": b.optimizer * 1000,
            ]
        }
        if let products {
            o["gemm_profile"] = products.map {
                ["shape": $0.shape, "calls_per_step": Double($0.calls) / Double(steps.count),
                 "thread_ms_per_step": $0.threadSeconds * 1000 / Double(steps.count),
                 "gflops_per_thread": $0.gflopsPerThread] as [String: Any]
            }
        }
        return o
    }

    func printTable() {
        print("model: \(model) (dequantised to Float32), threads: \(threads), SAC 5x, LoRA q_proj,v_proj r128")
        print("step: \(contextIds.count) context tokens → \(carriers) carriers; decoder \(decoderTokens) tokens, \(supervisedTokens) supervised")
        print(String(format: "train step:  median %.1f ms, mean %.1f ms over %d steps = %.1f tokens/s (encoder+decoder)",
                     median(steps) * 1000, mean(steps) * 1000, steps.count, Double(stepTokens) / median(steps)))
        print(String(format: "compress:    median %.1f ms, mean %.1f ms = %.1f tokens/s (encoder forward alone)",
                     median(compress) * 1000, mean(compress) * 1000, Double(contextIds.count) / median(compress)))
        print(String(format: "loss:        %.4f first, %.4f last timed step", losses.first ?? .nan, losses.last ?? .nan))
        print(String(format: "answer TTFT: %.1f ms from the stored %dx memory, %.1f ms from the full context (%.1fx faster)",
                     answerFromMemory * 1000, contextIds.count / max(carriers, 1), answerFromContext * 1000,
                     answerFromContext / answerFromMemory))
        if let b = breakdown {
            let total = b.encoderForward + b.decoderForward + b.decoderBackward + b.encoderBackward + b.optimizer
            print("breakdown (median ms):")
            for (name, v) in [("encoder forward", b.encoderForward), ("decoder forward + loss", b.decoderForward),
                              ("decoder backward", b.decoderBackward), ("encoder backward", b.encoderBackward),
                              ("clip + AdamW + zeroGrad", b.optimizer)] {
                print("  " + name.padding(toLength: 26, withPad: " ", startingAt: 0)
                      + String(format: "%8.1f  (%4.1f%%)", v * 1000, 100 * v / total))
            }
        }
        if let products { printProducts(products) }
        print(String(format: "peak resident memory: %.0f MB", peakRSSMB))
    }

    /// The GEMM tally per timed step: the 25 shapes that took the most thread time, then the rest.
    func printProducts(_ products: [GEMMProfile.Entry]) {
        let n = Double(steps.count)
        let total = products.reduce(0) { $0 + $1.threadSeconds }
        let stepThreadSeconds = median(steps) * Double(threads)
        print(String(format: "matrix products per step: %.0f thread-ms of %.0f (%.0f%% of the step's thread time), by shape:",
                     total * 1000 / n, stepThreadSeconds * 1000, 100 * total / n / stepThreadSeconds))
        print("  " + "op m×k×n threads".padding(toLength: 28, withPad: " ", startingAt: 0)
              + "   calls  thread-ms  share  GFLOP/s/thread")
        func line(_ name: String, calls: Double, seconds: Double, gflops: Double) {
            print("  " + name.padding(toLength: 28, withPad: " ", startingAt: 0)
                  + String(format: "%8.0f %10.1f %5.1f%% %10.1f", calls, seconds * 1000, 100 * seconds / max(total / n, 1e-12), gflops))
        }
        for e in products.prefix(25) {
            line(e.shape, calls: Double(e.calls) / n, seconds: e.threadSeconds / n, gflops: e.gflopsPerThread)
        }
        let rest = products.dropFirst(25)
        if !rest.isEmpty {
            let s = rest.reduce(0) { $0 + $1.threadSeconds }, f = rest.reduce(0) { $0 + $1.flops }
            line("\(rest.count) other shapes", calls: Double(rest.reduce(0) { $0 + $1.calls }) / n, seconds: s / n,
                 gflops: s > 0 ? f / s / 1e9 : 0)
        }
    }
}

private func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }
private func seconds(since t: UInt64) -> Double { Double(DispatchTime.now().uptimeNanoseconds - t) / 1e9 }
private func median(_ xs: [Double]) -> Double {
    let s = xs.sorted()
    guard !s.isEmpty else { return .nan }
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}
private func mean(_ xs: [Double]) -> Double { xs.isEmpty ? .nan : xs.reduce(0, +) / Double(xs.count) }
