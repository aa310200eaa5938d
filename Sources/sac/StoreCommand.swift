import ArgumentParser
import Foundation
import SACCompression
import SACStore

struct StoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store",
        abstract: "Manage a store of compressed memories (the directory `sac serve --store` uses).",
        subcommands: [StoreAdd.self, StoreList.self, StoreShow.self, StoreDelete.self, StoreVerify.self])
}

/// `--store DIR`.
struct StoreOptions: ParsableArguments {
    @Option(help: "Store directory.") var store: String

    func open(create: Bool = false) throws -> Store { try Store(directory: store, create: create) }
}

struct StoreAdd: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add",
        abstract: "Compress text files into the store; prints `<id> created|existing <tokens> <carriers>` per file once stored.")

    @OptionGroup var storeOptions: StoreOptions
    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var adapterOptions: AdapterOptions
    @Option(name: .customLong("input"), help: "UTF-8 text file (repeatable).") var inputs: [String]

    func run() throws {
        // Test hook: SAC_STORE_KILL_AT=<point> kills this process with SIGKILL at that point of
        // every write (after-temporary-file, after-rename, after-commit), to test crash safety.
        let killAt = ProcessInfo.processInfo.environment["SAC_STORE_KILL_AT"].flatMap(StoreFaultPoint.init(rawValue:))
        let store = try Store(directory: storeOptions.store, create: true, faultHook: killAt.map { point in
            { @Sendable p in if p == point { kill(getpid(), SIGKILL) } }
        })
        let loaded = try modelOptions.load()
        let compressor = try adapterOptions.load(model: loaded.model)
        let ingestor = Ingestor(compressor: compressor, prompt: try QAPrompt(tokenizer: loaded.tokenizer, config: loaded.model.config),
                                store: store)
        for input in inputs {
            guard let data = FileManager.default.contents(atPath: input) else { throw ValidationError("cannot read --input \(input)") }
            guard let text = String(data: data, encoding: .utf8) else { throw ValidationError("--input \(input) is not UTF-8 text") }
            let r = try ingestor.add(text: text)
            stdoutWrite("\(r.record.id) \(r.created ? "created" : "existing") \(r.record.contextTokens) \(r.record.carriers)\n")
        }
    }
}

struct StoreList: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List memories, oldest first.")
    @OptionGroup var storeOptions: StoreOptions
    @Option(help: "Most rows.") var limit = 100
    @Option(help: "Rows to skip.") var offset = 0

    func run() throws {
        let store = try storeOptions.open()
        let rows = try store.list(limit: limit, offset: offset)
        let (count, bytes) = try store.stats()
        stdoutWrite("id                                tokens carriers ratio method adapter              created\n")
        let f = ISO8601DateFormatter()
        for r in rows {
            stdoutWrite("\(r.id) \(pad(r.contextTokens, 6)) \(pad(r.carriers, 8)) \(pad(r.ratio, 5)) \(r.method.padding(toLength: 6, withPad: " ", startingAt: 0)) "
                        + "\(r.adapter.padding(toLength: 20, withPad: " ", startingAt: 0)) \(f.string(from: Date(timeIntervalSince1970: r.createdAt)))\n")
        }
        stderr("\(count) memories, \(String(format: "%.1f", Double(bytes) / 1_048_576)) MB")
    }

    private func pad(_ v: Int, _ n: Int) -> String { String(repeating: " ", count: max(0, n - "\(v)".count)) + "\(v)" }
}

struct StoreShow: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "Show one memory's index row (JSON), checking its file.")
    @OptionGroup var storeOptions: StoreOptions
    @Argument(help: "Memory id.") var id: String

    func run() throws {
        let store = try storeOptions.open()
        let (r, _) = try store.load(try MemoryID(id))
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        stdoutWrite(String(decoding: try e.encode(r), as: UTF8.self) + "\n")
    }
}

struct StoreDelete: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "delete", abstract: "Delete memories.")
    @OptionGroup var storeOptions: StoreOptions
    @Argument(help: "Memory ids.") var ids: [String]

    func run() throws {
        let store = try storeOptions.open()
        for raw in ids {
            let id = try MemoryID(raw)
            guard try store.delete(id) else { throw StoreError.notFound(id: raw) }
            stdoutWrite("deleted \(id)\n")
        }
    }
}

struct StoreVerify: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check every memory file against the index (size, SHA-256, metadata); exit status 1 on any problem.",
        discussion: "Temporary and unindexed files left by interrupted writes are listed; --clean removes them (run it while nothing else writes to the store).")
    @OptionGroup var storeOptions: StoreOptions
    @Flag(help: "Remove temporary and unindexed files.") var clean = false

    func run() throws {
        let v = try storeOptions.open().verify(clean: clean)
        for (id, problem) in v.problems.sorted(by: { $0.key < $1.key }) { stdoutWrite("BAD \(id): \(problem)\n") }
        for p in v.temporaryFiles { stdoutWrite("\(clean ? "removed" : "ignored") temporary file \(p)\n") }
        for p in v.orphanFiles { stdoutWrite("\(clean ? "removed" : "ignored") unindexed file \(p)\n") }
        stdoutWrite("\(v.checked) memories checked, \(v.problems.count) bad, \(v.temporaryFiles.count) temporary and "
                    + "\(v.orphanFiles.count) unindexed files\(clean ? " removed" : "")\n")
        if !v.isConsistent { throw ExitCode(1) }
    }
}

extension StoreError: LocalizedError {
    public var errorDescription: String? { description }
}
