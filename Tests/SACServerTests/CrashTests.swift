import Foundation
import Testing
@testable import SACServer
@testable import SACStore

/// Runs the built `sac` with `arguments`; returns its process (started) and stdout pipe.
func launch(_ exe: String, _ arguments: [String], environment: [String: String] = [:]) throws -> (Process, Pipe) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: exe)
    p.arguments = arguments
    p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    let out = Pipe()
    p.standardOutput = out
    p.standardError = FileHandle.nullDevice
    try p.run()
    return (p, out)
}

/// Reads the lines a child writes on stdout, one at a time.
final class LineReader: @unchecked Sendable {
    private let handle: FileHandle
    private var buffer = Data()
    init(_ pipe: Pipe) { handle = pipe.fileHandleForReading }

    /// The next line, or nil at end of file.
    func next() -> String? {
        while true {
            if let i = buffer.firstIndex(of: 10) {
                let line = String(decoding: buffer[buffer.startIndex..<i], as: UTF8.self)
                buffer.removeSubrange(buffer.startIndex...i)
                return line
            }
            let chunk = handle.availableData
            if chunk.isEmpty { return nil }
            buffer.append(chunk)
        }
    }
}

/// `sac store add` processes killed with SIGKILL at every step of a write, and at arbitrary
/// moments, leave a store that `sac store verify` passes, with every acknowledged memory
/// readable, and the interrupted texts can be added again.
@Suite(.serialized) struct CrashTests {
    @Test func killedMidWriteLeavesAConsistentStore() throws {
        guard (try RealModel.get()) != nil, let adapters = try TestAdapters.get() else { return }
        guard let sac = sacExecutable() else {
            Issue.record("the sac executable was not found next to the test bundle")
            return
        }
        let dir = try temporaryDirectory("crash")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = dir + "/store"
        let texts = (0..<8).map { i in
            "Document \(i). " + [Documents.lighthouse, Documents.bees, Documents.volcano][i % 3] + " (copy \(i))"
        }
        let files = try texts.enumerated().map { i, t in
            let f = dir + "/doc\(i).txt"
            try t.write(toFile: f, atomically: true, encoding: .utf8)
            return f
        }
        let base = ["store", "add", "--store", store, "--adapter", adapters[5]!]
        var acknowledged: [String: Int] = [:]  // id → document

        // 1. Killed at each step of the first write (before any acknowledgement).
        for (k, point) in [StoreFaultPoint.afterTemporaryFile, .afterRename, .afterCommit].enumerated() {
            let (p, out) = try launch(sac, base + ["--input", files[k], "--input", files[3 + k]],
                                      environment: ["SAC_STORE_KILL_AT": point.rawValue])
            let reader = LineReader(out)
            var lines: [String] = []
            while let l = reader.next() { lines.append(l) }
            p.waitUntilExit()
            #expect(p.terminationReason == .uncaughtSignal && p.terminationStatus == SIGKILL, "\(point): killed")
            // Killed during the first write, before anything was acknowledged.
            #expect(lines.isEmpty, "\(point): \(lines)")
            let v = try Store(directory: store).verify()
            #expect(v.isConsistent, "\(point): \(v.problems)")
            switch point {
            case .afterTemporaryFile: #expect(v.temporaryFiles.count >= 1 && v.checked == 0)
            case .afterRename: #expect(v.orphanFiles.count == 1)
            case .afterCommit: #expect(v.checked == 1, "committed before the kill, so it exists")
            case .afterDeleteCommit: break
            }
        }
        // 2. Killed at arbitrary moments while adding many documents.
        for (round, killAfter) in [(0, 1), (1, 3)] {
            let inputs = files.flatMap { ["--input", $0] }
            let (p, out) = try launch(sac, base + inputs)
            let reader = LineReader(out)
            var seen = 0
            while seen < killAfter, let line = reader.next() {
                let parts = line.split(separator: " ")
                let id = String(parts[0])
                acknowledged[id] = seen  // lines come in input order
                seen += 1
            }
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            #expect(seen == killAfter, "round \(round)")
            // Also kill one mid-compression, before its first acknowledgement.
            let (q, _) = try launch(sac, base + inputs)
            Thread.sleep(forTimeInterval: 0.8 + 0.4 * Double(round))
            kill(q.processIdentifier, SIGKILL)
            q.waitUntilExit()
        }
        // `sac store verify` passes; every acknowledged memory is readable and is its document's.
        let (verify, verifyOut) = try launch(sac, ["store", "verify", "--store", store])
        let report = String(decoding: verifyOut.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        verify.waitUntilExit()
        #expect(verify.terminationStatus == 0, "\(report)")
        let s = try Store(directory: store)
        for (id, doc) in acknowledged {
            let (record, memory) = try s.load(try MemoryID(id))
            #expect(record.contentHash == SHA256.hex(texts[doc]) && memory.carriers == record.carriers)
        }
        // Adding everything again completes the store; `verify --clean` removes the leftovers.
        let (p, out) = try launch(sac, base + files.flatMap { ["--input", $0] })
        let all = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
        let ids = all.split(separator: "\n").map { String($0.split(separator: " ")[0]) }
        #expect(ids.count == files.count && Set(ids).count == files.count)
        for id in acknowledged.keys { #expect(ids.contains(id), "acknowledged \(id) is found again, not duplicated") }
        print("sac store add killed 7 times (3 at fault points, 4 at arbitrary moments); \(acknowledged.count) acknowledged memories all readable; verify: "
              + report.trimmingCharacters(in: .whitespacesAndNewlines).components(separatedBy: "\n").last!)
        let cleaned = try Store(directory: store).verify(clean: true)
        #expect(cleaned.isConsistent && cleaned.checked == files.count)
        #expect(try Store(directory: store).verify() == StoreVerification(checked: files.count))

        // A corrupted file makes `sac store verify` fail, naming it.
        let victim = ids[2]
        let path = store + "/memories/\(victim).safetensors"
        var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        bytes[bytes.count - 10] ^= 1
        try bytes.write(to: URL(fileURLWithPath: path))
        let (bad, badOut) = try launch(sac, ["store", "verify", "--store", store])
        let badReport = String(decoding: badOut.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        bad.waitUntilExit()
        #expect(bad.terminationStatus == 1 && badReport.contains("BAD \(victim)"), "\(badReport)")

        // list, show, delete.
        func sacOutput(_ args: [String]) throws -> (Int32, String) {
            let (p, out) = try launch(sac, args)
            let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            return (p.terminationStatus, text)
        }
        let (listStatus, listing) = try sacOutput(["store", "list", "--store", store])
        #expect(listStatus == 0 && ids.allSatisfy { listing.contains($0) })
        let (showStatus, shown) = try sacOutput(["store", "show", "--store", store, ids[0]])
        #expect(showStatus == 0 && shown.contains("\"id\" : \"\(ids[0])\"") && shown.contains(SHA256.hex(texts[0])))
        #expect(try sacOutput(["store", "show", "--store", store, victim]).0 != 0, "a corrupted memory is not shown")
        #expect(try sacOutput(["store", "show", "--store", store, "../../etc/passwd"]).0 != 0)
        let (deleteStatus, deleted) = try sacOutput(["store", "delete", "--store", store, ids[0]])
        #expect(deleteStatus == 0 && deleted.contains("deleted \(ids[0])"))
        #expect(try sacOutput(["store", "show", "--store", store, ids[0]]).0 != 0)
        #expect(try Store(directory: store).stats().count == files.count - 1)
    }

    /// A `sac serve` process killed while clients add contexts: `sac store verify` passes,
    /// and a new server on the same store serves every context it had acknowledged.
    @Test func serverKilledWhileAddingContexts() async throws {
        guard (try RealModel.get()) != nil, let adapters = try TestAdapters.get() else { return }
        guard let sac = sacExecutable() else {
            Issue.record("the sac executable was not found next to the test bundle")
            return
        }
        let dir = try temporaryDirectory("server-crash")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = dir + "/store"
        func startServer() throws -> (Process, Client) {
            let (p, out) = try launch(sac, ["serve", "--store", store, "--adapter", adapters[5]!, "--port", "0", "--log-level", "error"])
            guard let line = LineReader(out).next(), line.hasPrefix("listening on ") else {
                p.terminate()
                throw ServerSetupError("sac serve did not start")
            }
            return (p, Client(base: String(line.dropFirst("listening on ".count))))
        }
        let (server, c) = try startServer()
        let acknowledged = AckList()
        let clients = Task {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for k in 0..<4 {
                    group.addTask {
                        for j in 0..<6 {
                            let text = "Client \(k), document \(j). " + [Documents.lighthouse, Documents.bees, Documents.volcano][(k + j) % 3]
                            guard let r = try? await c.post("/v1/contexts", ["text": text]), r.status == 201,
                                  let id = r.json["id"] as? String else { return }
                            acknowledged.add(id, text)
                        }
                    }
                }
                try await group.waitForAll()
            }
        }
        // Kill it once a few contexts are stored, while others are being compressed and written.
        for _ in 0..<600 where acknowledged.count < 3 { try await Task.sleep(for: .milliseconds(20)) }
        try await Task.sleep(for: .milliseconds(150))
        kill(server.processIdentifier, SIGKILL)
        server.waitUntilExit()
        _ = await clients.result
        let acks = acknowledged.all
        #expect(acks.count >= 3 && acks.count < 24, "\(acks.count) acknowledged")

        let (verify, verifyOut) = try launch(sac, ["store", "verify", "--store", store])
        let report = String(decoding: verifyOut.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        verify.waitUntilExit()
        #expect(verify.terminationStatus == 0, "\(report)")

        let (restarted, c2) = try startServer()
        defer { restarted.terminate(); restarted.waitUntilExit() }
        for (id, text) in acks {
            let r = try await c2.get("/v1/contexts/\(id)")
            #expect(r.status == 200 && r.json["content_hash"] as? String == SHA256.hex(text), "\(id) after the restart")
            let a = try await c2.post("/v1/contexts/\(id)/answers", ["question": "Which document is this?", "max_tokens": 2])
            #expect(a.status == 200, "\(a.text)")
        }
        // A context committed just before the kill may exist without its reply having arrived.
        let total = try await c2.get("/v1/contexts?limit=100").json["total"] as? Int ?? 0
        #expect(total >= acks.count)
        print("sac serve killed after \(acks.count) acknowledged contexts; \(total) in the store after restart; verify: "
              + report.trimmingCharacters(in: .whitespacesAndNewlines).components(separatedBy: "\n").last!)
    }
}

/// Ids acknowledged by a server, collected from several client tasks.
final class AckList: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [(String, String)] = []
    func add(_ id: String, _ text: String) { lock.lock(); items.append((id, text)); lock.unlock() }
    var count: Int { lock.lock(); defer { lock.unlock() }; return items.count }
    var all: [(String, String)] { lock.lock(); defer { lock.unlock() }; return items }
}

@Suite struct ServeCommandTests {
    /// `sac serve` with an adapter directory that is not one stops with a clear message.
    @Test func badAdapterIsAClearError() throws {
        guard (try RealModel.get()) != nil else { return }
        guard let sac = sacExecutable() else {
            Issue.record("the sac executable was not found next to the test bundle")
            return
        }
        let dir = try temporaryDirectory("serve-cli")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (status, message) = try runToEnd(sac, ["serve", "--store", dir + "/store", "--adapter", dir + "/missing", "--port", "0"])
        #expect(status != 0)
        #expect(message.contains("sac_config.json") && message.contains("adapter directory"), "\(message)")
    }
}
