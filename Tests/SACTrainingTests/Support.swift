import Foundation
import SACCompression
import SACData
import SACModel
import SACTensor
import SACTraining

/// A byte-level tokenizer (no merges: one token per byte) and a tiny random Llama over it.
enum TinySetup {
    static func byteTokens() -> [String] {
        var printable = Array(33...126) + Array(161...172) + Array(174...255)
        var map = [Int: Int]()
        for b in printable { map[b] = b }
        var n = 0
        for b in 0..<256 where map[b] == nil { map[b] = 256 + n; n += 1; printable.append(b) }
        return (0..<256).map { String(UnicodeScalar(UInt32(map[$0]!))!) }
    }

    static func tokenizer() throws -> Tokenizer {
        try Tokenizer(
            tokens: ["<pad>", "<bos>", "<eos>"] + byteTokens(), merges: [], tokenTypes: [3, 3, 3] + Array(repeating: 1, count: 256),
            preTokenizer: .gpt2, bosTokenId: 1, eosTokenId: 2, unkTokenId: nil, padTokenId: 0, addBOS: false, addEOS: false,
            chatTemplate: nil)
    }

    static func model(seed: UInt64 = 5) throws -> LlamaModel {
        let config = try LlamaConfig(
            vocabSize: 259, hiddenSize: 32, intermediateSize: 48, numLayers: 2, numHeads: 4, numKVHeads: 2,
            rmsNormEps: 1e-5, ropeTheta: 10000, maxPositionEmbeddings: 4096, tieWordEmbeddings: true,
            bosTokenId: 1, eosTokenId: 2)
        return try LlamaModel(weights: InMemoryWeightSource(randomWith: config, seed: seed, std: 0.1, embeddingStd: 0.3), file: "tiny")
    }

    static func qaFiles() -> DataFiles {
        var f = try! DataFiles(paths: [])
        let contexts = ["The cat sat on the red mat.", "Paris is the capital of France.", "Water boils at 100 degrees.",
                        "Bees make honey in hives.", "The sun rises in the east."]
        for (i, c) in contexts.enumerated() {
            f.qa.append(QAExample(context: c, question: "What is it about?", answers: [String(c.prefix(9))], id: "q\(i)", source: "tiny"))
            f.qa.append(QAExample(context: c, question: "First word?", answers: [String(c.split(separator: " ")[0])], id: "r\(i)", source: "tiny"))
        }
        f.fingerprint = "tiny-qa"
        return f
    }

    static func tmp(_ name: String) -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sac-train-\(getpid())-\(name)-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir.path
    }
}
