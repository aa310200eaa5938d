import Foundation
import SACCompression
import SACData
import SACModel
import Testing

@testable import SACEvaluation

/// The evaluator on the real model with the training-free `tokens` method (skipped without
/// the model, failing instead when SAC_REQUIRE_MODEL=1).
@Suite struct EvaluatorTests {
    static func loaded() throws -> LoadedModel? {
        do { return try ModelLoader.load(path: nil) } catch {
            if ProcessInfo.processInfo.environment["SAC_REQUIRE_MODEL"] == "1" { throw error }
            return nil
        }
    }

    @Test func compressesEachContextOnceAndIsDeterministic() throws {
        guard let m = try Self.loaded() else { return }
        let data = QAReadResult(examples: [
            QAExample(context: "The Eiffel Tower is in Paris, the capital of France.", question: "Where is the Eiffel Tower?",
                      answers: ["Paris", "in Paris"], id: "a", source: "t"),
            QAExample(context: "The Eiffel Tower is in Paris, the capital of France.", question: "What is the capital of France?",
                      answers: ["Paris"], id: "b", source: "t"),
            QAExample(context: "Water boils at 100 degrees Celsius at sea level.", question: "At what temperature does water boil?",
                      answers: ["100 degrees Celsius"], id: "c", source: "t"),
        ], skipped: [], name: "tiny")
        let comp = try Compressor(model: m.model, settings: CompressorSettings(method: .tokens, ratio: 2))
        let prompt = try QAPrompt(tokenizer: m.tokenizer, config: m.model.config)
        var ev = Evaluator(compressor: comp, prompt: prompt, maxNewTokens: 8)
        var preds: [Prediction] = []
        let row = try ev.evaluate(data, predictions: { preds.append($0) })
        #expect(ev.compressions == 2)
        #expect(row.count == 3 && preds.count == 3)
        #expect(row.name == "tiny")
        #expect(row.ratio > 1.5 && row.ratio < 2.5)
        for v in [row.rouge1F, row.em, row.squadF1, row.squadEM] { #expect(v >= 0 && v <= 100) }
        #expect(row.compressMs > 0 && row.answerMs > 0)
        // Scores are those of the predictions.
        var s = QAScores()
        for p in preds { s.add(prediction: p.prediction, answers: p.answers) }
        #expect(abs(s.squadF1 - row.squadF1) < 1e-9)
        var again: [Prediction] = []
        let limited = try ev.evaluate(data, limit: 2, predictions: { again.append($0) })
        #expect(limited.count == 2 && ev.compressions == 1)
        #expect(again.map(\.prediction) == preds.prefix(2).map(\.prediction))
    }
}
