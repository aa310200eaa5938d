import Foundation
import Testing
@testable import SACData

@Suite struct SQuADReaderTests {
    @Test func readsHandWrittenFile() throws {
        let result = try SQuADReader.read(url: Fixtures.url("qa/tiny-squad.json"))
        #expect(result.name == "tiny-squad")
        #expect(result.examples.map(\.id) == ["s1", "s2", "s3"])
        #expect(result.examples[0] == QAExample(
            context: "The Nile is the longest river in Africa.", question: "Which is the longest river in Africa?",
            answers: ["The Nile", "Nile"], id: "s1", source: "SQuAD"))
        #expect(result.skipped == [SkippedLine(line: 0, reason: "data[0].paragraphs[1].qas[1]: missing \"question\" or answer \"text\"")])
        #expect(result.contexts.map(\.range) == [0..<2, 2..<3])
    }

    @Test func mrqaFileIsNotSQuAD() {
        do { _ = try SQuADReader.read(url: Fixtures.url("qa/tiny.jsonl")); Issue.record("accepted") } catch {
            guard case let .badJSON(file, _) = error else { Issue.record("got \(error)"); return }
            #expect(file.hasSuffix("tiny.jsonl"))
        }
    }
}
