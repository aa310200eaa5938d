import ArgumentParser
import Foundation
import Logging
import SACServer

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve compression and answers over HTTP (compress once, ask many).",
        discussion: """
            Endpoints: POST/GET /v1/contexts, GET/DELETE /v1/contexts/{id}, POST /v1/contexts/{id}/answers, \
            POST /v1/chat/completions (OpenAI-compatible, plus context_id), GET /v1/models, GET /health, GET /metrics. \
            Give --adapter once per ratio; the first is the default for POST /v1/contexts.
            """)

    @OptionGroup var modelOptions: ModelOptions
    @Option(name: .customLong("adapter"), help: "A compressor directory (repeat for several ratios; default: the shipped adapters/sac-smollm2-5x).")
    var adapters: [String] = []
    @Option(help: "Store directory (created if missing).") var store: String
    @Option(help: "Address to listen on.") var host = "127.0.0.1"
    @Option(help: "Port (0: any free port, printed on stdout).") var port = 8080
    @Option(help: "Largest request body in bytes (413 beyond).") var maxBodyBytes = 1 << 20
    @Option(help: "Longest context in tokens (422 beyond; default: the adapter's limit).") var maxContextTokens: Int?
    @Option(help: "Model jobs queued or running at once (503 with Retry-After beyond).") var queueSize = 64
    @Option(help: "max_tokens when a request gives none.") var maxTokens = 64
    @Option(help: "MB of memories kept in RAM after their first checked read (0: read and check the file every time).")
    var cacheMb = 512
    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.") var logLevel = "info"

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be in 0...65535") }
        guard maxBodyBytes >= 1 else { throw ValidationError("--max-body-bytes must be ≥ 1") }
        guard queueSize >= 1 else { throw ValidationError("--queue-size must be ≥ 1") }
        guard maxTokens >= 1 else { throw ValidationError("--max-tokens must be ≥ 1") }
        guard cacheMb >= 0 else { throw ValidationError("--cache-mb must be ≥ 0") }
        if let m = maxContextTokens, m < 1 { throw ValidationError("--max-context-tokens must be ≥ 1") }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("--log-level: unknown level \(logLevel)") }
    }

    func run() async throws {
        let level = Logger.Level(rawValue: logLevel)!
        LoggingSystem.bootstrap { label in
            var h = StreamLogHandler.standardError(label: label)
            h.logLevel = level
            return h
        }
        let logger = Logger(label: "sac.server")
        let dirs = adapters.isEmpty ? [try shippedAdapter()] : adapters
        let loaded = try modelOptions.load()
        var config = ServerConfiguration()
        config.host = host
        config.port = port
        config.maxBodyBytes = maxBodyBytes
        config.maxContextTokens = maxContextTokens
        config.queueCapacity = queueSize
        config.defaultMaxTokens = maxTokens
        config.memoryCacheBytes = cacheMb << 20
        let service = try SACService(loaded: loaded, adapters: dirs, storeDirectory: store, configuration: config, logger: logger)
        try await service.run { port in
            stdoutWrite("listening on http://\(host):\(port)\n")
        }
    }
}

/// The shipped adapter (see `AdapterOptions.resolve`), or a clear error asking for --adapter.
func shippedAdapter() throws -> String {
    if let shipped = AdapterOptions.shipped() { return shipped }
    throw ValidationError(
        "no --adapter given and the shipped adapter \(AdapterOptions.shippedName) was not found; "
            + "pass --adapter DIR (written by `sac train`, or an untrained one from `sac init-adapter`)")
}
