import Foundation
import Hummingbird
import Logging
import Prometheus

/// The server's Prometheus metrics (`GET /metrics`): requests by route and status, request
/// latency, compress and answer latency, generated tokens and tokens/s, queue depth, store size.
final class ServerMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    private let latencyBuckets: [Double] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]
    let compressSeconds: ValueHistogram
    let answerSeconds: ValueHistogram
    let generatedTokens: Counter
    let generationSeconds: Counter
    let tokensPerSecond: Gauge
    let queueDepth: Gauge
    let storeMemories: Gauge
    let storeBytes: Gauge

    init() {
        func d(_ name: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
            MetricNameDescriptor(namespace: "sac", metricName: name, unitName: unit, helpText: help)
        }
        compressSeconds = registry.makeValueHistogram(
            descriptor: d("compress_duration", "seconds", "Time to compress a new context"), buckets: latencyBuckets)
        answerSeconds = registry.makeValueHistogram(
            descriptor: d("generation_duration", "seconds", "Time to generate an answer or chat completion"), buckets: latencyBuckets)
        generatedTokens = registry.makeCounter(descriptor: d("generated_tokens", "total", "Tokens generated"))
        generationSeconds = registry.makeCounter(descriptor: d("generation_time", "seconds_total", "Seconds spent generating"))
        tokensPerSecond = registry.makeGauge(descriptor: d("generation_speed", "tokens_per_second", "Tokens/s of the last generation"))
        queueDepth = registry.makeGauge(descriptor: d("model_queue", "depth", "Model jobs queued or running"))
        storeMemories = registry.makeGauge(descriptor: d("store_memories", "count", "Memories in the store"))
        storeBytes = registry.makeGauge(descriptor: d("store_size", "bytes", "Bytes of memory files in the store"))
    }

    /// Records one request.
    func request(route: String, method: String, status: Int, seconds: Double) {
        let labels = [("route", route), ("method", method), ("status", "\(status)")]
        registry.makeCounter(
            descriptor: MetricNameDescriptor(namespace: "sac", metricName: "http_requests", unitName: "total", helpText: "HTTP requests"),
            labels: labels
        ).increment()
        registry.makeValueHistogram(
            descriptor: MetricNameDescriptor(
                namespace: "sac", metricName: "http_request_duration", unitName: "seconds", helpText: "HTTP request latency"),
            labels: [("route", route), ("method", method)], buckets: latencyBuckets
        ).record(seconds)
    }

    /// Records one generation.
    func generation(_ g: Generation) {
        answerSeconds.record(g.totalSeconds)
        generatedTokens.increment(by: Int64(g.tokens))
        generationSeconds.increment(by: g.totalSeconds)
        if g.totalSeconds > 0 { tokensPerSecond.set(Double(g.tokens) / g.totalSeconds) }
    }
}

/// Counts and times every request by route (the route pattern, not the raw path) and status,
/// and turns every error (the handlers', the router's 404) into a JSON error response.
struct MetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    let metrics: ServerMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        var response: Response
        do {
            response = try await next(request, context)
        } catch {
            let e = APIError.from(error)
            let level: Logger.Level = e.status.code == 503 ? .warning : e.status.code >= 500 ? .error : .debug
            context.logger.log(level: level, "request failed", metadata: [
                "path": "\(request.uri.path)", "status": "\(e.status.code)", "error": "\(e.message)",
            ])
            response = try e.response(from: request, context: context)
        }
        let d = ContinuousClock.now - start
        metrics.request(route: context.endpointPath ?? "unmatched", method: request.method.rawValue, status: response.status.code,
                        seconds: Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18)
        return response
    }
}
