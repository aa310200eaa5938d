import Foundation
import Hummingbird
import Logging
import NIOCore
import SACModel
import SACStore

/// Limits and addresses of a server.
public struct ServerConfiguration: Sendable {
    public var host = "127.0.0.1"
    /// 0 picks a free port (reported through `onRunning`).
    public var port = 8080
    /// Largest request body, bytes (413 beyond).
    public var maxBodyBytes = 1 << 20
    /// Longest context, in encoder tokens (422 beyond); nil: the adapter's own limit.
    public var maxContextTokens: Int?
    /// Model jobs queued or running at once (503 with Retry-After beyond).
    public var queueCapacity = 64
    /// `max_tokens` when a request gives none, and the largest accepted.
    public var defaultMaxTokens = 64
    public var maxTokensLimit = 1024

    public init() {}
}

/// The SAC HTTP service: a loaded model and its adapters, a store, and the routes.
///
/// ```
/// let service = try SACService(loaded: model, adapters: ["adapters/sac-smollm2-5x"], storeDirectory: "store")
/// try await service.run()
/// ```
public final class SACService: Sendable {
    public let configuration: ServerConfiguration
    public let store: Store
    let engine: Engine
    let worker: ModelWorker
    let metrics = ServerMetrics()
    let logger: Logger

    /// Loads the adapters (one per ratio; the first is the default) and opens the store.
    /// - Throws: `ServerSetupError`, `StoreError` or `CompressionError` naming what is wrong.
    public init(loaded: LoadedModel, adapters: [String], storeDirectory: String,
                configuration: ServerConfiguration = ServerConfiguration(), logger: Logger = Logger(label: "sac.server")) throws {
        self.configuration = configuration
        self.logger = logger
        store = try Store(directory: storeDirectory)
        engine = try Engine(loaded: loaded, adapters: adapters, store: store, maxContextTokens: configuration.maxContextTokens,
                            logger: logger)
        worker = ModelWorker(capacity: configuration.queueCapacity)
    }

    deinit { worker.stop() }

    /// Ratios served (`POST /v1/contexts` `ratio`).
    public var ratios: [Int] { engine.ratios }

    /// The Hummingbird application; `onRunning` gets the bound port.
    public func application(onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) -> some ApplicationProtocol {
        let router = Router()
        router.add(middleware: MetricsMiddleware(metrics: metrics))
        Handlers(engine: engine, worker: worker, store: store, metrics: metrics, configuration: configuration)
            .register(on: router)
        let logger = self.logger
        let host = configuration.host
        return Application(
            router: router,
            configuration: .init(address: .hostname(host, port: configuration.port), serverName: "sac"),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? 0
                logger.info("listening", metadata: ["host": "\(host)", "port": "\(port)"])
                await onRunning(port)
            },
            logger: logger)
    }

    /// Runs until SIGINT or SIGTERM.
    public func run(onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        try await application(onRunning: onRunning).runService()
    }
}
