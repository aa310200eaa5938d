import Foundation
import Testing
@testable import SACModel

/// The one temporary-file-then-rename writer: the destination holds the old content or the
/// complete new one, and nothing is left beside it.
@Suite struct AtomicFileTests {
    let dir: String

    init() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("sac-atomic-\(getpid())-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    func listing(_ path: String? = nil) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: path ?? dir).sorted()
    }

    struct Boom: Error {}

    @Test func fileIsReplacedWholeOrNotAtAll() throws {
        let path = dir + "/a.json"
        try AtomicFile.write(Data("old".utf8), to: path)
        #expect(FileManager.default.contents(atPath: path) == Data("old".utf8))
        // A writer that fails half-way leaves the old file and no temporary file.
        #expect(throws: Boom.self) {
            try AtomicFile.write(to: path) { w in
                try Data("new, but only half".utf8).withUnsafeBytes { try w.put($0) }
                throw Boom()
            }
        }
        #expect(FileManager.default.contents(atPath: path) == Data("old".utf8))
        #expect(try listing() == ["a.json"])
        // Pieces written through the writer arrive in order.
        try AtomicFile.write(to: path) { w in
            for piece in ["n", "ew", ""] { try Data(piece.utf8).withUnsafeBytes { try w.put($0) } }
        }
        #expect(FileManager.default.contents(atPath: path) == Data("new".utf8))
        #expect(try listing() == ["a.json"])
        // A directory that does not exist is a typed error naming the destination.
        let missing = dir + "/no/such/dir/b.json"
        if let e = #expect(throws: ModelError.self, performing: { try AtomicFile.write(Data("x".utf8), to: missing) }) {
            guard case .unwritable(let file, _) = e else { Issue.record("\(e)"); return }
            #expect(file == missing)
        }
    }

    @Test func directoryIsReplacedWholeOrNotAtAll() throws {
        let run = dir + "/best"
        try AtomicFile.replaceDirectory(at: run) { tmp in
            try AtomicFile.write(Data("1".utf8), to: tmp + "/one")
        }
        #expect(try listing(run) == ["one"])
        // A failing build leaves the old directory as it was and nothing beside it.
        #expect(throws: Boom.self) {
            try AtomicFile.replaceDirectory(at: run) { tmp in
                try AtomicFile.write(Data("2".utf8), to: tmp + "/two")
                throw Boom()
            }
        }
        #expect(try listing(run) == ["one"])
        #expect(try listing() == ["best"])
        // A successful one replaces it entirely.
        try AtomicFile.replaceDirectory(at: run) { tmp in
            try AtomicFile.write(Data("2".utf8), to: tmp + "/two")
        }
        #expect(try listing(run) == ["two"])
        #expect(try listing() == ["best"])
    }
}
