import Foundation
import Testing
@testable import SACCompression
@testable import SACTraining

/// Contexts longer than the model's positions (QMSum transcripts) are cut to their first N
/// tokens: `QAPrompt.contextLimit`, `TrainerConfig.contextTokens` (`--context-tokens`).
@Suite struct ContextLimitTests {
    @Test func promptKeepsTheFirstTokensOfTheContext() throws {
        let tok = try TinySetup.tokenizer()
        var prompt = try QAPrompt(tokenizer: tok, config: TinySetup.model().config)
        let text = "Speaker A: first words of a long meeting, then more."
        let whole = prompt.context(text)
        let header = [prompt.bos] + tok.encode("### Context:\n", addSpecialTokens: false)
        let body = tok.encode(text, addSpecialTokens: false)
        #expect(whole == header + body && body.count > 12)
        prompt.contextLimit = 12
        #expect(prompt.context(text) == header + Array(body.prefix(12)))
        prompt.contextLimit = body.count + 5
        #expect(prompt.context(text) == whole)
        prompt.contextLimit = 0
        #expect(prompt.context(text) == header)
    }

    @Test func configValidatesRecordsAndComparesIt() throws {
        var c = TrainerConfig(objective: .qa, steps: 10)
        #expect(c.contextTokens == 0)
        c.contextTokens = -1
        #expect(throws: TrainingError.invalidSetting(field: "contextTokens", detail: "-1, expected ≥ 0")) { try c.validate() }
        c.contextTokens = 7_000
        let decoded = try JSONDecoder().decode(TrainerConfig.self, from: JSONEncoder().encode(c))
        #expect(decoded.contextTokens == 7_000)
        let saved = TrainerConfig(objective: .qa, steps: 10)
        #expect(c.resultAffectingDifferences(from: saved).map(\.name) == ["context tokens"])
        // A checkpoint written before the field existed read as "all tokens".
        var object = try #require(try JSONSerialization.jsonObject(with: JSONEncoder().encode(saved)) as? [String: Any])
        object["contextTokens"] = nil
        let old = try JSONDecoder().decode(TrainerConfig.self, from: JSONSerialization.data(withJSONObject: object))
        #expect(old.contextTokens == 0 && old.resultAffectingDifferences(from: saved).isEmpty)
    }
}
