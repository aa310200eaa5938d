import Foundation
import GRDB
import SACCompression

/// Moments inside `Store.add` and `Store.delete` at which a test can stop the process, to
/// show that a kill at any of them leaves the store consistent (see `Store.init`).
public enum StoreFaultPoint: String, Sendable, CaseIterable {
    /// The memory is in a temporary file; nothing is in place yet.
    case afterTemporaryFile = "after-temporary-file"
    /// The file has its final name but no index row names it.
    case afterRename = "after-rename"
    /// The index row is committed (the memory exists) but the caller was not told yet.
    case afterCommit = "after-commit"
    /// A delete committed the row's removal but has not removed the file yet.
    case afterDeleteCommit = "after-delete-commit"
}

/// A directory of compressed memories: `memories/<id>.safetensors` plus the SQLite index
/// `index.sqlite` (GRDB).
///
/// A memory exists exactly when its index row does. Adding writes the file to a temporary
/// name, fsyncs it, renames it into place, fsyncs the directory and only then commits the row
/// in a transaction; deleting commits the row's removal, then removes the file. A process
/// killed at any moment therefore leaves only (a) memories whose row and file are both
/// complete, and (b) temporary or unindexed files that are never served, which `verify`
/// reports and `verify(clean: true)` removes. Every file is checked against the size and
/// SHA-256 in its row whenever it is read.
public final class Store: Sendable {
    /// The store directory.
    public let directory: String
    let memoriesDirectory: String
    let db: DatabaseQueue
    let faultHook: (@Sendable (StoreFaultPoint) -> Void)?

    static let indexFile = "index.sqlite"
    static let memoriesFolder = "memories"
    static let fileExtension = ".safetensors"
    static let temporaryPrefix = ".tmp-"

    /// Opens (creating when `create`) the store in `directory`.
    ///
    /// - Parameter faultHook: called at each `StoreFaultPoint` (tests kill the process there).
    /// - Throws: `StoreError.unusable` when the directory or index cannot be opened.
    public init(directory: String, create: Bool = true, faultHook: (@Sendable (StoreFaultPoint) -> Void)? = nil) throws {
        self.directory = directory
        memoriesDirectory = directory + "/" + Self.memoriesFolder
        self.faultHook = faultHook
        let fm = FileManager.default
        var isDir: ObjCBool = false
        if !fm.fileExists(atPath: directory + "/" + Self.indexFile) && !create {
            throw StoreError.unusable(path: directory, detail: "no store here (missing \(Self.indexFile))")
        }
        do {
            try fm.createDirectory(atPath: memoriesDirectory, withIntermediateDirectories: true)
        } catch {
            throw StoreError.unusable(path: directory, detail: "cannot create \(memoriesDirectory): \(error.localizedDescription)")
        }
        guard fm.fileExists(atPath: memoriesDirectory, isDirectory: &isDir), isDir.boolValue else {
            throw StoreError.unusable(path: directory, detail: "\(memoriesDirectory) is not a directory")
        }
        var config = Configuration()
        config.busyMode = .timeout(10)
        config.label = "sac-store"
        do {
            db = try DatabaseQueue(path: directory + "/" + Self.indexFile, configuration: config)
            var migrator = DatabaseMigrator()
            migrator.registerMigration("v1") { db in
                try db.create(table: StoredMemory.databaseTableName) { t in
                    t.primaryKey("id", .text)
                    t.column("content_hash", .text).notNull()
                    t.column("model", .text).notNull()
                    t.column("adapter", .text).notNull()
                    t.column("method", .text).notNull()
                    t.column("ratio", .integer).notNull()
                    t.column("context_tokens", .integer).notNull()
                    t.column("carriers", .integer).notNull()
                    t.column("file_bytes", .integer).notNull()
                    t.column("file_sha256", .text).notNull()
                    t.column("created_at", .double).notNull()
                    t.uniqueKey(["content_hash", "model", "adapter", "method", "ratio"])
                }
            }
            try migrator.migrate(db)
        } catch {
            throw StoreError.unusable(path: directory, detail: "cannot open the index: \(error)")
        }
    }

    /// The file of memory `id` (inside the store: ids are validated hex).
    public func path(for id: MemoryID) -> String { memoriesDirectory + "/" + id.value + Self.fileExtension }

    /// The memory made from text `contentHash` with this model, adapter, method and ratio, if stored.
    public func find(contentHash: String, model: String, adapter: String, method: String, ratio: Int) throws -> StoredMemory? {
        try read { db in
            try StoredMemory
                .filter(Column("content_hash") == contentHash && Column("model") == model && Column("adapter") == adapter
                    && Column("method") == method && Column("ratio") == ratio)
                .fetchOne(db)
        }
    }

    /// Stores `memory`, made from a text whose SHA-256 is `contentHash`; returns the existing
    /// record instead when the same text was already stored with the same model, adapter,
    /// method and ratio. When this returns, the memory is durable and readable.
    public func add(_ memory: CompressedMemory, contentHash: String) throws -> (record: StoredMemory, created: Bool) {
        if let existing = try find(contentHash: contentHash, model: memory.model, adapter: memory.adapter,
                                   method: memory.method.rawValue, ratio: memory.ratio) {
            return (existing, false)
        }
        let id = MemoryID.random()
        let final = path(for: id)
        let tmp = memoriesDirectory + "/" + Self.temporaryPrefix + id.value + Self.fileExtension
        let bytes: Int, sha: String
        do {
            try memory.write(to: tmp)
            faultHook?(.afterTemporaryFile)
            (bytes, sha) = try Self.checksum(tmp)
            try Self.fsync(path: tmp)
            guard rename(tmp, final) == 0 else {
                throw StoreError.unusable(path: directory, detail: "cannot rename \(tmp): \(String(cString: strerror(errno)))")
            }
            try Self.fsync(path: memoriesDirectory)
        } catch {
            unlink(tmp)
            if let e = error as? StoreError { throw e }
            throw StoreError.unusable(path: directory, detail: "cannot write memory \(id): \(error)")
        }
        faultHook?(.afterRename)
        let record = StoredMemory(
            id: id.value, contentHash: contentHash, model: memory.model, adapter: memory.adapter,
            method: memory.method.rawValue, ratio: memory.ratio, contextTokens: memory.contextTokens,
            carriers: memory.carriers, fileBytes: bytes, fileSha256: sha, createdAt: Date().timeIntervalSince1970)
        do {
            let existing: StoredMemory? = try db.write { db in
                if let e = try StoredMemory
                    .filter(Column("content_hash") == contentHash && Column("model") == record.model
                        && Column("adapter") == record.adapter && Column("method") == record.method
                        && Column("ratio") == record.ratio)
                    .fetchOne(db) { return e }
                try record.insert(db)
                return nil
            }
            if let existing {  // another writer stored the same text first
                unlink(final)
                return (existing, false)
            }
        } catch {
            unlink(final)
            throw StoreError.unusable(path: directory, detail: "cannot index memory \(id): \(error)")
        }
        faultHook?(.afterCommit)
        return (record, true)
    }

    /// The index row of `id`. Throws `StoreError.notFound`.
    public func record(_ id: MemoryID) throws -> StoredMemory {
        guard let r = try read({ try StoredMemory.fetchOne($0, key: id.value) }) else { throw StoreError.notFound(id: id.value) }
        return r
    }

    /// The record and memory of `id`, the file checked against the index (size, SHA-256, and
    /// the identity and counts in its metadata).
    ///
    /// - Throws: `StoreError.notFound`, or `StoreError.corrupt` naming what differs.
    public func load(_ id: MemoryID) throws -> (record: StoredMemory, memory: CompressedMemory) {
        let r = try record(id)
        return (r, try check(r))
    }

    /// The memory of index row `r`, its file checked as in `load`.
    public func memory(for r: StoredMemory) throws -> CompressedMemory { try check(r) }

    /// Reads and checks the file of `r`.
    func check(_ r: StoredMemory) throws -> CompressedMemory {
        let id = try MemoryID(r.id)
        let p = path(for: id)
        let (bytes, sha): (Int, String)
        do { (bytes, sha) = try Self.checksum(p) } catch {
            if (try? read({ try StoredMemory.fetchOne($0, key: r.id) })) == .some(nil) { throw StoreError.notFound(id: r.id) }
            throw StoreError.corrupt(id: r.id, detail: "the file is missing or unreadable")
        }
        guard bytes == r.fileBytes else {
            throw StoreError.corrupt(id: r.id, detail: "the file has \(bytes) bytes, the index says \(r.fileBytes)")
        }
        guard sha == r.fileSha256 else {
            throw StoreError.corrupt(id: r.id, detail: "the file's SHA-256 differs from the index")
        }
        let m: CompressedMemory
        do { m = try CompressedMemory(contentsOf: p) } catch {
            throw StoreError.corrupt(id: r.id, detail: "\(error)")
        }
        let fields: [(String, String, String)] = [
            ("model", m.model, r.model), ("adapter", m.adapter, r.adapter), ("method", m.method.rawValue, r.method),
            ("ratio", "\(m.ratio)", "\(r.ratio)"), ("context tokens", "\(m.contextTokens)", "\(r.contextTokens)"),
            ("carriers", "\(m.carriers)", "\(r.carriers)"),
        ]
        if let (name, file, index) = fields.first(where: { $0.1 != $0.2 }) {
            throw StoreError.corrupt(id: r.id, detail: "\(name) is \(file) in the file, \(index) in the index")
        }
        return m
    }

    /// Memories in creation order, `limit` from `offset`.
    public func list(limit: Int = 100, offset: Int = 0) throws -> [StoredMemory] {
        try read { db in
            try StoredMemory.order(Column("created_at"), Column("id")).limit(max(0, limit), offset: max(0, offset)).fetchAll(db)
        }
    }

    /// How many memories are stored, and their files' total size in bytes.
    public func stats() throws -> (count: Int, bytes: Int) {
        try read { db in
            let n = try StoredMemory.fetchCount(db)
            let b = try Int.fetchOne(db, sql: "SELECT COALESCE(SUM(file_bytes), 0) FROM memories") ?? 0
            return (n, b)
        }
    }

    /// Deletes `id`; returns whether it existed. The row goes first (in a transaction), then the file.
    @discardableResult
    public func delete(_ id: MemoryID) throws -> Bool {
        let existed: Bool
        do { existed = try db.write { try StoredMemory.deleteOne($0, key: id.value) } } catch {
            throw StoreError.unusable(path: directory, detail: "cannot delete \(id): \(error)")
        }
        faultHook?(.afterDeleteCommit)
        if existed { unlink(path(for: id)) }
        return existed
    }

    /// Checks every indexed memory's file against the index, and lists the files no row names.
    ///
    /// - Parameter clean: also remove temporary and unindexed files. Run it while no other
    ///   process is adding to the store (a file being added is unindexed until its commit).
    public func verify(clean: Bool = false) throws -> StoreVerification {
        var v = StoreVerification()
        let rows = try read { try StoredMemory.fetchAll($0) }
        for r in rows {
            v.checked += 1
            do { _ = try check(r) } catch let e as StoreError { v.problems[r.id] = "\(e)" } catch {
                v.problems[r.id] = "\(error)"
            }
        }
        let indexed = Set(rows.map { $0.id + Self.fileExtension })
        let names = (try? FileManager.default.contentsOfDirectory(atPath: memoriesDirectory)) ?? []
        for name in names.sorted() where !indexed.contains(name) {
            let p = memoriesDirectory + "/" + name
            if name.hasPrefix(".") { v.temporaryFiles.append(p) } else { v.orphanFiles.append(p) }
        }
        if clean {
            // Re-read the index so that a memory committed meanwhile is not removed.
            let now = Set(try read { try String.fetchAll($0, sql: "SELECT id FROM memories") }.map { $0 + Self.fileExtension })
            for p in v.orphanFiles + v.temporaryFiles where !now.contains((p as NSString).lastPathComponent) { unlink(p) }
        }
        return v
    }

    private func read<T>(_ body: (Database) throws -> T) throws -> T {
        do { return try db.read(body) } catch let e as StoreError { throw e } catch {
            throw StoreError.unusable(path: directory, detail: "cannot read the index: \(error)")
        }
    }

    /// Size and SHA-256 (hex) of a file.
    static func checksum(_ path: String) throws -> (Int, String) {
        let url = URL(fileURLWithPath: path)
        let data = try Data(contentsOf: url)
        var h = SHA256()
        data.withUnsafeBytes { h.update(buffer: $0) }
        return (data.count, SHA256.hexString(h.finalize()))
    }

    /// Flushes a file or directory to disk.
    static func fsync(path: String) throws {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw StoreError.unusable(path: path, detail: "cannot open for fsync: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        _ = Foundation.fsync(fd)
    }
}
