import Foundation
import Testing
@testable import SACData

/// QMSum meetings read as QA examples: one per query, the transcript as the context.
@Suite struct QMSumReaderTests {
    @Test func readsQueriesOverTheTranscript() throws {
        let r = try QMSumReader.read(url: Fixtures.url("qa/tiny-qmsum.jsonl"))
        #expect(r.name == "tiny-qmsum")
        #expect(r.examples.map(\.id) == ["tiny-qmsum:1:g0", "tiny-qmsum:1:s0", "tiny-qmsum:1:s1", "tiny-qmsum:2:s0"])
        #expect(r.examples.allSatisfy { $0.source == "QMSum" && $0.answers.count == 1 && !$0.answers[0].isEmpty })
        let first = r.examples[0]
        #expect(first.question == "What were the main discussion points of the meeting?")
        #expect(first.context.hasPrefix("Professor E: So . OK . Doesn't look like it crashed . That 's great .\nGrad G: So I think"))
        #expect(first.context.hasSuffix("\nPhD A: Sounds like an initialization thing ."))
        #expect(first.context.split(separator: "\n").count == 4)
        // The second meeting: a turn without a speaker is rendered without one; one without
        // content is skipped, as is a query without an answer.
        #expect(r.examples[3].context == "Marketing: {vocalsound} That went well , thank you .\nThat's great .\nIndustrial Designer: {vocalsound} 'Kay .")
        #expect(r.contexts.map(\.range) == [0..<3, 3..<4])
        #expect(r.skipped.map(\.line) == [2, 2, 3, 5])
        #expect(r.skipped[0].reason == "meeting_transcripts[3]: missing string field \"content\"")
        #expect(r.skipped[1].reason == "general_query_list[0]: missing or empty string field \"answer\"")
        #expect(r.skipped[2].reason.hasPrefix("not a JSON object of the QMSum format"))
        #expect(r.skipped[3].reason == "missing or empty array field \"meeting_transcripts\"")
    }

    @Test func gzipLimitAndTheChoiceOfReader() throws {
        let plain = try QMSumReader.read(url: Fixtures.url("qa/tiny-qmsum.jsonl"))
        #expect(try QMSumReader.read(url: Fixtures.url("qa/tiny-qmsum.jsonl.gz")).examples == plain.examples)
        #expect(try QMSumReader.read(url: Fixtures.url("qa/tiny-qmsum.jsonl"), limit: 2).examples == Array(plain.examples.prefix(2)))
        // DataFile tells QMSum from MRQA by the first record's fields, not by the name.
        #expect(try DataFile.readQA(url: Fixtures.url("qa/tiny-qmsum.jsonl.gz")).examples == plain.examples)
        #expect(try DataFile.readQA(url: Fixtures.url("qa/tiny.jsonl.gz")).examples == MRQAReader.read(url: Fixtures.url("qa/tiny.jsonl.gz")).examples)
        #expect(QMSumReader.looksLikeQMSum(try Fixtures.data("qa/tiny-qmsum.jsonl")))
        #expect(!QMSumReader.looksLikeQMSum(try Fixtures.data("qa/tiny.jsonl")))
        #expect(!QMSumReader.looksLikeQMSum(Data("\n  \nnot json\n".utf8)) && !QMSumReader.looksLikeQMSum(Data()))
    }

    /// The real splits (when ../shared is present): 35 meetings each, 272 and 281 queries.
    @Test func realSplits() throws {
        guard let dir = Fixtures.sharedData else { return }
        for (file, queries) in [("val", 272), ("test", 281)] {
            let r = try DataFile.readQA(url: dir.appendingPathComponent("qmsum/\(file).jsonl.gz"))
            #expect(r.examples.count == queries && r.contexts.count == 35 && r.skipped.isEmpty, "\(file)")
            #expect(r.examples.allSatisfy { $0.context.count > 9_000 })
        }
    }
}
