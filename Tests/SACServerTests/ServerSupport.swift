import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import Testing
@testable import SACCompression
@testable import SACModel
@testable import SACServer
@testable import SACStore

/// The real default model, loaded once (see `Tests/SACModelTests/TestSupport.swift`): absent,
/// the tests that need it pass without checking, unless `SAC_REQUIRE_MODEL=1`.
enum RealModel {
    static let required = ProcessInfo.processInfo.environment["SAC_REQUIRE_MODEL"] == "1"

    static let loaded: Result<LoadedModel, Error>? = {
        guard let url = try? ModelLoader.resolve(nil), FileManager.default.fileExists(atPath: url.path) else { return nil }
        return Result { try ModelLoader.load(path: url.path) }
    }()

    static func get() throws -> LoadedModel? {
        guard let loaded else {
            if required { Issue.record("SAC_REQUIRE_MODEL=1 but the default model is missing: run `make model`") }
            return nil
        }
        return try loaded.get()
    }
}

/// Untrained SAC adapters (LoRA rank 4) at 5x and 15x, written once per test run: their
/// answers are meaningless but deterministic, which is all the server tests need.
enum TestAdapters {
    static let directory: Result<[Int: String], Error>? = {
        guard let loaded = try? RealModel.get() else { return nil }
        return Result {
            let root = try temporaryDirectory("adapters")
            var dirs: [Int: String] = [:]
            for ratio in [5, 15] {
                let settings = CompressorSettings(method: .sac, ratio: ratio, lora: LoRAConfig(rank: 4, alpha: 8))
                let c = try Compressor(model: loaded.model, settings: settings, seed: UInt64(ratio))
                let dir = root + "/sac-\(ratio)x"
                try c.saveAdapter(to: dir, modelName: loaded.name)
                dirs[ratio] = dir
            }
            return dirs
        }
    }()

    static func get() throws -> [Int: String]? { try directory?.get() }
}

/// A server started by a test on a free loopback port.
struct TestServer: Sendable {
    let running: RunningServer
    var service: SACService { running.service }

    var base: String { "http://127.0.0.1:\(running.port)" }

    static func start(loaded: LoadedModel, adapters: [String], store: String,
                      configure: (inout ServerConfiguration) -> Void = { _ in }) async throws -> TestServer {
        var config = ServerConfiguration()
        config.port = 0
        config.defaultMaxTokens = 8
        configure(&config)
        var logger = Logger(label: "sac.test")
        logger.logLevel = .critical  // the tests provoke errors on purpose
        let service = try SACService(loaded: loaded, adapters: adapters, storeDirectory: store, configuration: config, logger: logger)
        return TestServer(running: try await service.start())
    }

    func stop() async { await running.stop() }
}

/// A response: status, headers, body.
struct Reply: Sendable {
    var status: Int
    var headers: [String: String]
    var body: Data

    var text: String { String(decoding: body, as: UTF8.self) }

    /// The body as a JSON object (empty when it is not one).
    var json: [String: Any] { ((try? JSONSerialization.jsonObject(with: body)) as? [String: Any]) ?? [:] }

    /// The `error.field` of a JSON error body.
    var errorField: String? { (json["error"] as? [String: Any])?["field"] as? String }
    var errorMessage: String? { (json["error"] as? [String: Any])?["message"] as? String }

    /// The payloads of `data:` lines of an event stream.
    var events: [String] {
        text.components(separatedBy: "\n\n").compactMap { block in
            block.hasPrefix("data: ") ? String(block.dropFirst(6)) : nil
        }
    }
}

/// A minimal HTTP/1.1 client on swift-nio for the tests: one connection per request
/// (`Connection: close`), the whole response collected.
struct Client: Sendable {
    let base: String

    var port: Int { Int(base.split(separator: ":").last!)! }

    func send(_ method: HTTPMethod, _ path: String, body: Data? = nil) async throws -> Reply {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(wrappingChannelSynchronously: channel)
                }
            }
        var headers = HTTPHeaders([("Host", "127.0.0.1:\(port)"), ("Connection", "close")])
        if let body {
            headers.add(name: "Content-Type", value: "application/json")
            headers.add(name: "Content-Length", value: "\(body.count)")
        }
        let head = HTTPRequestHead(version: .http1_1, method: method, uri: path, headers: headers)
        return try await channel.executeThenClose { inbound, outbound in
            // Write while reading: a server may answer (413) before it has read the whole body.
            let writer = Task {
                try await outbound.write(.head(head))
                if let body { try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: body)))) }
                try await outbound.write(.end(nil))
            }
            defer { writer.cancel() }
            var reply = Reply(status: 0, headers: [:], body: Data())
            for try await part in inbound {
                switch part {
                case .head(let h):
                    reply.status = Int(h.status.code)
                    for (name, value) in h.headers { reply.headers[name.lowercased()] = value }
                case .body(let b):
                    reply.body.append(contentsOf: b.readableBytesView)
                case .end:
                    return reply
                }
            }
            throw ServerSetupError("connection closed before the response ended (\(method) \(path))")
        }
    }

    func get(_ path: String) async throws -> Reply { try await send(.GET, path) }
    func delete(_ path: String) async throws -> Reply { try await send(.DELETE, path) }

    func post(_ path: String, _ object: [String: Any]) async throws -> Reply {
        try await send(.POST, path, body: try JSONSerialization.data(withJSONObject: object))
    }

    func post(_ path: String, raw: String) async throws -> Reply {
        try await send(.POST, path, body: Data(raw.utf8))
    }
}

/// Short example documents.
enum Documents {
    static let lighthouse = """
        The Bell Rock Lighthouse, off the coast of Angus, Scotland, is the world's oldest surviving sea-washed \
        lighthouse. It was built between 1807 and 1810 by Robert Stevenson on the Bell Rock in the North Sea. \
        The light was first lit on 1 February 1811 and is visible from 35 miles inland.
        """
    static let bees = """
        Honey bees communicate the location of flowers through the waggle dance. The angle of the dance relative \
        to vertical gives the direction relative to the sun, and the duration of the waggle run gives the distance. \
        Karl von Frisch decoded the dance and shared the 1973 Nobel Prize in Physiology or Medicine.
        """
    static let volcano = """
        Mount Vesuvius erupted in 79 AD and buried the Roman towns of Pompeii and Herculaneum under ash and pumice. \
        Pliny the Younger described the eruption in two letters to the historian Tacitus. The volcano last erupted in 1944.
        """
}

/// The `sac` executable built next to the test bundle (`swift test` builds every product).
func sacExecutable() -> String? {
    let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
    var dir = exe.deletingLastPathComponent()
    for _ in 0..<3 {
        let candidate = dir.appendingPathComponent("sac").path
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        dir = dir.deletingLastPathComponent()
    }
    return nil
}

/// Runs `exe` with `arguments` (and `environment` over this process's) to its end; returns
/// its exit status and standard error (standard output discarded).
func runToEnd(_ exe: String, _ arguments: [String], environment: [String: String] = [:]) throws -> (status: Int32, stderr: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: exe)
    p.arguments = arguments
    p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    let err = Pipe()
    p.standardError = err
    p.standardOutput = FileHandle.nullDevice
    try p.run()
    let message = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    p.waitUntilExit()
    return (p.terminationStatus, message)
}
