import Foundation
import Testing
@testable import SACModel

@Suite struct LlamaConfigTests {
    let smol = """
    {"architectures":["LlamaForCausalLM"],"bos_token_id":1,"eos_token_id":2,"hidden_act":"silu",
     "hidden_size":576,"intermediate_size":1536,"max_position_embeddings":8192,"model_type":"llama",
     "num_attention_heads":9,"num_hidden_layers":30,"num_key_value_heads":3,"rms_norm_eps":1e-05,
     "rope_scaling":null,"rope_theta":100000,"tie_word_embeddings":true,"vocab_size":49152}
    """

    func parse(_ s: String) throws -> LlamaConfig { try LlamaConfig(configJSON: Data(s.utf8), file: "config.json") }

    @Test func smolLM2ConfigJSON() throws {
        let c = try parse(smol)
        let want = try LlamaConfig(
            vocabSize: 49152, hiddenSize: 576, intermediateSize: 1536, numLayers: 30, numHeads: 9, numKVHeads: 3,
            rmsNormEps: 1e-5, ropeTheta: 100000, maxPositionEmbeddings: 8192, tieWordEmbeddings: true,
            bosTokenId: 1, eosTokenId: 2)
        #expect(c == want)
        #expect(c.headDim == 64)
    }

    /// transformers 5 writes rope_parameters instead of rope_theta; the tiny fixture uses it.
    @Test func tinyFixtureAndGGUFAgree() throws {
        let hf = try LlamaConfig(configJSONPath: WeightFixtures.path("tiny-llama/f32/config.json"))
        let sizes = [hf.vocabSize, hf.hiddenSize, hf.intermediateSize, hf.numLayers, hf.numHeads, hf.numKVHeads, hf.headDim]
        #expect(sizes == [96, 32, 64, 2, 4, 2, 8])
        #expect(hf.ropeTheta == 10000)
        #expect(hf.rmsNormEps == 1e-5)
        #expect(!hf.tieWordEmbeddings)
        let gg = try LlamaConfig(gguf: GGUFFile(path: WeightFixtures.path("gguf/tiny-llama-f32.gguf")))
        #expect(hf == gg)
    }

    @Test func rejections() throws {
        func expect(_ json: String, _ check: (ModelError) -> Bool, sourceLocation: SourceLocation = #_sourceLocation) {
            if let e = #expect(throws: ModelError.self, sourceLocation: sourceLocation, performing: { try parse(json) }) {
                if !check(e) { Issue.record("\(e)", sourceLocation: sourceLocation) }
            }
        }
        func edit(_ a: String, _ b: String) -> String { smol.replacingOccurrences(of: a, with: b) }
        expect(edit(#""rope_scaling":null"#, #""rope_scaling":{"type":"linear","factor":2}"#)) {
            if case .unsupported(_, "rope_scaling", _) = $0 { return true } else { return false }
        }
        expect(edit(#""rope_scaling":null"#, #""rope_scaling":{"rope_type":"llama3","factor":8}"#)) {
            if case .unsupported(_, "rope_scaling", _) = $0 { return true } else { return false }
        }
        expect(edit(#""model_type":"llama""#, #""model_type":"gpt2""#)) {
            if case .unsupported(_, "model_type", _) = $0 { return true } else { return false }
        }
        expect(edit(#""num_key_value_heads":3"#, #""num_key_value_heads":2"#)) {
            if case .invalidField(_, "num_attention_heads", _, _) = $0 { return true } else { return false }
        }
        expect(edit(#""hidden_size":576"#, #""hidden_size":577"#)) {
            if case .invalidField(_, "hidden_size", _, _) = $0 { return true } else { return false }
        }
        expect(edit(#""hidden_size":576,"#, "")) {
            if case .missingField(_, "hidden_size") = $0 { return true } else { return false }
        }
        expect(edit(#""hidden_size":576"#, #""hidden_size":"big""#)) {
            if case .invalidField(_, "hidden_size", _, _) = $0 { return true } else { return false }
        }
        expect(edit(#""rms_norm_eps":1e-05"#, #""rms_norm_eps":-1"#)) {
            if case .invalidField(_, "rms_norm_eps", _, _) = $0 { return true } else { return false }
        }
        expect(edit(#""hidden_act":"silu""#, #""hidden_act":"gelu""#)) {
            if case .unsupported(_, "hidden_act", _) = $0 { return true } else { return false }
        }
        expect("not json") { if case .invalidField = $0 { return true } else { return false } }
        // Accepted variants: list of EOS ids, rope_scaling with type "default", no kv heads.
        let c = try parse(edit(#""eos_token_id":2"#, #""eos_token_id":[2,7]"#)
            .replacingOccurrences(of: #""rope_scaling":null"#, with: #""rope_scaling":{"rope_type":"default"}"#)
            .replacingOccurrences(of: #""num_key_value_heads":3,"#, with: ""))
        #expect(c.eosTokenId == 2)
        #expect(c.numKVHeads == 9)
    }
}
