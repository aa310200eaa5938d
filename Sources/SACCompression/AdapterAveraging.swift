import Foundation
import SACModel
import SACTensor

extension Compressor {
    /// The parameter-space average of several adapters of one model and one set of settings:
    /// every trainable tensor (LoRA A and B, the SAC embeddings) becomes the mean of the
    /// adapters' tensors, element by element, summed in `Double` and rounded once to `Float`.
    ///
    /// For checkpoints of one training run (latest weight averaging, a cheap stand-in for a
    /// learning-rate decay): averaging A and B separately is not averaging the products
    /// B·A, so adapters trained apart from different starts average into nothing useful.
    ///
    /// - Parameter weights: one non-negative weight per adapter (normalised to sum to 1);
    ///   equal weights when `nil`.
    /// - Throws: `CompressionError.invalidOption` for fewer than one adapter or bad weights;
    ///   `identityMismatch` when an adapter's settings differ from the first's, or it was
    ///   trained on another model; the errors of `load(adapter:model:)`.
    public static func average(adapters dirs: [String], weights: [Double]? = nil, model: LlamaModel) throws -> Compressor {
        guard let first = dirs.first else {
            throw CompressionError.invalidOption(option: "adapters", detail: "expected at least one adapter to average")
        }
        let w = weights ?? Array(repeating: 1, count: dirs.count)
        guard w.count == dirs.count else {
            throw CompressionError.invalidOption(option: "weights", detail: "\(w.count) weights for \(dirs.count) adapters")
        }
        let total = w.reduce(0, +)
        guard w.allSatisfy({ $0.isFinite && $0 >= 0 }), total > 0 else {
            throw CompressionError.invalidOption(option: "weights", detail: "expected finite, non-negative weights with a positive sum")
        }
        let out = try load(adapter: first, model: model)
        var sums = out.parameters.map { $0.value.data.map { Double($0) * w[0] } }
        for (k, dir) in dirs.enumerated().dropFirst() {
            let c = try load(adapter: dir, model: model)
            guard c.settings == out.settings else {
                throw CompressionError.identityMismatch(
                    file: dir, field: "settings (every averaged adapter needs those of \(first))",
                    expected: String(describing: out.settings), found: String(describing: c.settings))
            }
            for (i, p) in c.parameters.enumerated() {
                let x = p.value.data
                sums[i].withUnsafeMutableBufferPointer { s in
                    for j in 0..<x.count { s[j] += Double(x[j]) * w[k] }
                }
            }
        }
        for (p, s) in zip(out.parameters, sums) {
            try p.assign(Tensor(shape: p.shape, data: s.map { Float($0 / total) }))
        }
        return out
    }
}
