import Foundation
import Testing
@testable import SACData

@Suite struct TextCorpusTests {
    @Test func splitsOnBlankLines() throws {
        let text = try TextCorpus.read(url: Fixtures.url("text/corpus.txt"))
        #expect(TextCorpus.documents(in: text) == [
            "First paragraph line one.\nline two.", "Second paragraph.", "Third, with trailing spaces.",
        ])
        #expect(TextCorpus.documents(in: text, minCharacters: 20).count == 2)
        #expect(TextCorpus.documents(in: "").isEmpty)
        #expect(TextCorpus.documents(in: "\n \n\t\n").isEmpty)
    }

    @Test func invalidUTF8NamesTheOffset() {
        do { _ = try TextCorpus.read(url: Fixtures.url("text/bad-utf8.txt")); Issue.record("accepted") } catch {
            guard case let .notUTF8(file, offset) = error else { Issue.record("got \(error)"); return }
            #expect(file.hasSuffix("bad-utf8.txt"))
            #expect(offset == 12)
        }
        let repaired = try? TextCorpus.read(url: Fixtures.url("text/bad-utf8.txt"), repairingInvalidUTF8: true)
        #expect(repaired == "valid start \u{FFFD}( rest")
    }

    @Test func readsGzippedText() throws {
        let text = try TextCorpus.read(url: Fixtures.url("gzip/text.l9.gz"))
        let plain = try TextCorpus.read(url: Fixtures.url("gzip/text.txt"))
        #expect(text == plain)
        #expect(text.contains("décodé"))
    }

    /// Real corpora (when ../shared is present): the inaugural addresses hold a stray byte
    /// (0xA1 at offset 748295), which is an error unless repaired; repaired, the text splits
    /// into many non-empty documents.
    @Test func realCorpus() throws {
        guard let dir = Fixtures.sharedData else { return }
        let url = dir.appendingPathComponent("text/us-inaugural-addresses.txt")
        #expect(throws: DataError.self) { try TextCorpus.read(url: url) }
        let text = try TextCorpus.read(url: url, repairingInvalidUTF8: true)
        #expect(text.contains("\u{FFFD}"))
        #expect(try TextCorpus.read(url: dir.appendingPathComponent("text/tinyshakespeare.txt")).count > 1_000_000)
        let docs = TextCorpus.documents(in: text)
        #expect(docs.count > 100)
        #expect(docs.allSatisfy { !$0.isEmpty && $0 == $0.trimmingCharacters(in: .whitespacesAndNewlines) })
    }
}
