import Foundation
import SACCompression
import SACModel
import SACTensor
import Testing

/// `Compressor.average`: the element-wise (weighted) mean of adapters, against a float64
/// reference on random adapters, and its refusals.
@Suite struct AdapterAveragingTests {
    static let settings = CompressorSettings(method: .sac, ratio: 4, lora: LoRAConfig(rank: 2, alpha: 4))

    /// Saves `n` adapters with random LoRA A and B and random embeddings.
    static func adapters(_ n: Int, model: LlamaModel, settings: CompressorSettings = settings) throws -> (dirs: [String], values: [[[Float]]]) {
        var dirs: [String] = [], values: [[[Float]]] = []
        for k in 0..<n {
            let c = try Compressor(model: model, settings: settings, seed: UInt64(3 + k))
            try Tiny.perturbLoRA(c, seed: UInt64(40 + k))
            let dir = MemoryTests.tmp("avg-\(k)-\(UUID().uuidString)")
            try c.saveAdapter(to: dir, modelName: "tiny")
            dirs.append(dir)
            values.append(c.parameters.map { $0.value.data })
        }
        return (dirs, values)
    }

    @Test func weightedMeanMatchesFloat64() throws {
        let model = try Tiny.model()
        let (dirs, values) = try Self.adapters(3, model: model)
        for weights in [nil, [1.0, 2.0, 0.5]] as [[Double]?] {
            let w = weights ?? [1, 1, 1]
            let avg = try Compressor.average(adapters: dirs, weights: weights, model: model)
            #expect(avg.settings == Self.settings)
            var compared = 0
            for (i, p) in avg.parameters.enumerated() {
                for j in 0..<p.count {
                    var ref = 0.0
                    for k in 0..<3 { ref += Double(values[k][i][j]) * w[k] }
                    ref /= w.reduce(0, +)
                    // One rounding to Float32: within half an ulp, 6e-8 relative, plus a floor for values near 0.
                    #expect(abs(Double(p.value.data[j]) - ref) <= 6e-8 * abs(ref) + 1e-12, "\(p.name)[\(j)]")
                    compared += 1
                }
            }
            #expect(compared > 1000)
            // Not any one of the inputs.
            #expect(avg.parameters.map { $0.value.data } != values[0])
        }
        // One adapter averages to itself; a weight of zero drops an adapter.
        let one = try Compressor.average(adapters: [dirs[1]], model: model)
        #expect(one.parameters.map { $0.value.data } == values[1])
        let dropped = try Compressor.average(adapters: dirs, weights: [0, 1, 0], model: model)
        #expect(dropped.parameters.map { $0.value.data } == values[1])
    }

    @Test func refusals() throws {
        let model = try Tiny.model()
        let (dirs, _) = try Self.adapters(2, model: model)
        #expect(throws: CompressionError.self) { try Compressor.average(adapters: [], model: model) }
        #expect(throws: CompressionError.self) { try Compressor.average(adapters: dirs, weights: [1], model: model) }
        #expect(throws: CompressionError.self) { try Compressor.average(adapters: dirs, weights: [1, -1], model: model) }
        #expect(throws: CompressionError.self) { try Compressor.average(adapters: dirs, weights: [0, 0], model: model) }
        #expect(throws: CompressionError.self) { try Compressor.average(adapters: dirs, weights: [1, .nan], model: model) }
        // Other settings (another ratio): the field is named.
        var other = Self.settings
        other.ratio = 8
        let (otherDirs, _) = try Self.adapters(1, model: model, settings: other)
        do {
            _ = try Compressor.average(adapters: [dirs[0], otherDirs[0]], model: model)
            Issue.record("averaged adapters of different settings")
        } catch let CompressionError.identityMismatch(file, field, _, _) {
            #expect(file == otherDirs[0] && field.hasPrefix("settings"))
        }
        // Trained on another model.
        #expect(throws: CompressionError.self) { try Compressor.average(adapters: dirs, model: Tiny.model(seed: 9)) }
        // A missing directory.
        #expect(throws: CompressionError.self) { try Compressor.average(adapters: [dirs[0], MemoryTests.tmp("nowhere")], model: model) }
    }
}
