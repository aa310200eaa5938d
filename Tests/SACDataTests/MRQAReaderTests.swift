import Foundation
import Testing
@testable import SACData

@Suite struct MRQAReaderTests {
    @Test(arguments: ["qa/tiny.jsonl", "qa/tiny.jsonl.gz"])
    func readsExamplesAndReportsBadLines(_ path: String) throws {
        let result = try MRQAReader.read(url: Fixtures.url(path))
        #expect(result.name == "tiny")
        #expect(result.examples.map(\.id) == ["q1", "q2", "q5", "tiny:8:0"])
        let first = try #require(result.examples.first)
        #expect(first == QAExample(context: "Paris is the capital of France.", question: "What is the capital of France?",
                                   answers: ["Paris"], id: "q1", source: "TinyQA"))
        #expect(result.examples[1].answers == ["France", "france"])
        #expect(result.examples[2].context == "Berlin is in Germany. Tōkyō is in Japan — “quoted”.")
        #expect(result.examples[2].question == "Where is Tōkyō?")
        #expect(result.skipped.map(\.line) == [3, 4, 5, 7, 7])
        #expect(result.skipped[0].reason.contains("JSON"))
        #expect(result.skipped[1].reason.contains("\"context\""))
        #expect(result.skipped[2].reason.contains("\"qas\""))
        #expect(result.skipped[3].reason.contains("qas[0]") && result.skipped[3].reason.contains("answers"))
        #expect(result.skipped[4].reason.contains("qas[2]") && result.skipped[4].reason.contains("question"))
    }

    @Test func limitStopsEarly() throws {
        let result = try MRQAReader.read(url: Fixtures.url("qa/tiny.jsonl"), limit: 2)
        #expect(result.examples.map(\.id) == ["q1", "q2"])
        #expect(result.skipped.isEmpty)
    }

    @Test func contextsGroupConsecutiveQuestions() throws {
        let result = try MRQAReader.read(url: Fixtures.url("qa/tiny.jsonl"))
        let groups = result.contexts
        #expect(groups.map(\.range) == [0..<2, 2..<3, 3..<4])
        for g in groups { #expect(result.examples[g.range].allSatisfy { $0.context == g.context }) }
    }

    @Test func missingFileIsATypedErrorNamingIt() {
        let url = Fixtures.url("qa/does-not-exist.jsonl")
        do { _ = try MRQAReader.read(url: url); Issue.record("accepted") } catch {
            guard case let .unreadable(file, _) = error else { Issue.record("got \(error)"); return }
            #expect(file == url.path)
            #expect(error.description.contains("does-not-exist.jsonl"))
        }
    }

    @Test func plainTextNamedGzIsATypedError() {
        do { _ = try MRQAReader.read(url: Fixtures.url("qa/notgzip.jsonl.gz")); Issue.record("accepted") } catch {
            guard case let .badGzip(file, gzipError) = error else { Issue.record("got \(error)"); return }
            #expect(file.hasSuffix("notgzip.jsonl.gz"))
            #expect(gzipError == .badMagic(offset: 0))
        }
    }

    /// The real SQuAD-dev split (when ../shared is present): 300 contexts, 1398 questions.
    @Test func realSQuADDev() throws {
        guard let dir = Fixtures.sharedData else { return }
        let result = try MRQAReader.read(url: dir.appendingPathComponent("mrqa/SQuAD-dev.jsonl.gz"))
        #expect(result.name == "SQuAD-dev")
        #expect(result.examples.count == 1398)
        #expect(result.skipped.isEmpty)
        #expect(result.contexts.count == 300)
        #expect(result.examples.allSatisfy { !$0.answers.isEmpty && !$0.question.isEmpty && $0.source == "SQuAD" })
        #expect(Set(result.examples.map(\.id)).count == 1398)
    }

    /// The real SQuAD-train and DROP splits (when ../shared is present), with the counts of
    /// shared/data/README.md; prints the time to read SQuAD-train.
    @Test func realTrainAndDROP() throws {
        guard let dir = Fixtures.sharedData else { return }
        let clock = ContinuousClock()
        let t0 = clock.now
        let train = try MRQAReader.read(url: dir.appendingPathComponent("mrqa/SQuAD-train.jsonl.gz"))
        print("MRQAReader.read SQuAD-train.jsonl.gz: \(train.examples.count) examples in \(clock.now - t0)")
        #expect(train.examples.count == 7614 && train.contexts.count == 1450 && train.skipped.isEmpty)
        let drop = try MRQAReader.read(url: dir.appendingPathComponent("mrqa/DROP.jsonl.gz"))
        #expect(drop.name == "DROP" && drop.examples.count == 1503 && drop.contexts.count == 281 && drop.skipped.isEmpty)
    }
}
