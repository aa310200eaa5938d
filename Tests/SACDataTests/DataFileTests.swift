import Foundation
import Testing
@testable import SACData

/// File names map to readers in one place.
@Suite struct DataFileTests {
    @Test func kindsByName() {
        #expect(DataFile.kind(of: "a/SQuAD-dev.jsonl.gz") == .mrqa)
        #expect(DataFile.kind(of: "x.jsonl") == .mrqa)
        #expect(DataFile.kind(of: "dev-v1.1.json") == .squad)
        #expect(DataFile.kind(of: "book.txt") == .text && DataFile.kind(of: "book.txt.gz") == .text)
        #expect(DataFile.kind(of: "table.csv") == nil && DataFile.kind(of: "x.json.gz") == nil)
        #expect(DataFile.Kind.mrqa.isQA && DataFile.Kind.squad.isQA && !DataFile.Kind.text.isQA)
    }

    @Test func readQAPicksTheReader() throws {
        let mrqa = try DataFile.readQA(url: Fixtures.url("qa/tiny.jsonl"))
        #expect(try mrqa.examples == MRQAReader.read(url: Fixtures.url("qa/tiny.jsonl")).examples && !mrqa.examples.isEmpty)
        let squad = try DataFile.readQA(url: Fixtures.url("qa/tiny-squad.json"))
        #expect(try squad.examples == SQuADReader.read(url: Fixtures.url("qa/tiny-squad.json")).examples && !squad.examples.isEmpty)
    }

    @Test func readQARefusesText() {
        let url = URL(fileURLWithPath: "/tmp/notes.txt")
        #expect(throws: DataError.self) { try DataFile.readQA(url: url) }
        do {
            _ = try DataFile.readQA(url: url)
        } catch {
            guard case .unsupportedFile(let file, _) = error else { Issue.record("\(error)"); return }
            #expect(file == url.path)
        }
    }
}
