import Foundation
import Hummingbird
import Logging
import NIOCore
import SACModel
import SACStore
import ServiceLifecycle

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
    /// Bytes of memories kept in RAM after their first (checked) read; 0 reads every time.
    public var memoryCacheBytes = 512 << 20

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
                            cacheBytes: configuration.memoryCacheBytes, logger: logger)
        worker = ModelWorker(capacity: configuration.queueCapacity)
    }

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

    /// Starts the server in this process (tests, embedding); `stop()` shuts it down gracefully.
    public func start() async throws -> RunningServer {
        let (ports, sink) = AsyncStream<Int>.makeStream()
        let group = ServiceGroup(configuration: .init(services: [application { sink.yield($0); sink.finish() }], logger: logger))
        let task = Task { try await group.run() }
        var it = ports.makeAsyncIterator()
        guard let port = await it.next() else {
            task.cancel()
            _ = try? await task.value
            throw ServerSetupError("the server stopped before listening on \(configuration.host):\(configuration.port)")
        }
        return RunningServer(service: self, port: port, group: group, task: task)
    }

    /// Runs until SIGINT or SIGTERM, then lets the model thread finish its queue and exit.
    public func run(onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        defer { worker.stop() }
        try await application(onRunning: onRunning).runService()
    }
}

/// A server started by `SACService.start()`; it keeps the service alive until `stop()`.
public final class RunningServer: Sendable {
    public let service: SACService
    /// The bound port.
    public let port: Int
    let group: ServiceGroup
    let task: Task<Void, Error>

    init(service: SACService, port: Int, group: ServiceGroup, task: Task<Void, Error>) {
        self.service = service
        self.port = port
        self.group = group
        self.task = task
    }

    /// Stops accepting connections, finishes the open ones, and waits for the end.
    public func stop() async {
        await group.triggerGracefulShutdown()
        _ = try? await task.value
        service.worker.stop()
    }
}
