// swift-tools-version:6.0
// Semantic-Anchor Compression (SAC) in Swift. The targets follow the pipeline:
// tensors and kernels → model and weights → compression → training → evaluation → CLI and server.
import PackageDescription

#if arch(x86_64)
// The kernels are written with SIMD types; let the compiler use AVX2 and FMA (x86-64-v3).
let cpuFlags: [SwiftSetting] = [.unsafeFlags(["-target-cpu", "haswell"])]
#else
let cpuFlags: [SwiftSetting] = []
#endif

let kernelFlags: [SwiftSetting] = cpuFlags + [.unsafeFlags(["-enforce-exclusivity=unchecked"])]

#if arch(x86_64)
// The 512-bit micro-kernels, compiled for AVX-512 in a module of their own and called only
// when the CPU has AVX-512F (checked at run time), so that one binary runs everywhere.
let avx512Flags: [SwiftSetting] = [.unsafeFlags(["-target-cpu", "skylake-avx512", "-enforce-exclusivity=unchecked"])]
#else
let avx512Flags: [SwiftSetting] = []
#endif

let package = Package(
    name: "SAC",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "sac", targets: ["sac"]),
        .library(name: "SACTensor", targets: ["SACTensor"]),
        .library(name: "SACModel", targets: ["SACModel"]),
        .library(name: "SACCompression", targets: ["SACCompression"]),
        .library(name: "SACData", targets: ["SACData"]),
        .library(name: "SACTraining", targets: ["SACTraining"]),
        .library(name: "SACEvaluation", targets: ["SACEvaluation"]),
        .library(name: "SACStore", targets: ["SACStore"]),
        .library(name: "SACServer", targets: ["SACServer"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // The store and the HTTP service (issue #6).
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.0"),
        // SHA-256 of texts and memory files.
        .package(url: "https://github.com/apple/swift-crypto", "3.12.3"..<"5.0.0"),
    ],
    targets: [
        // Float32 storage, threaded SIMD kernels with forward and backward side by side, AdamW.
        .target(name: "SACTensor", dependencies: ["SACTensorAVX512", "SACIntrinsics"], swiftSettings: kernelFlags),
        // Vector casts and x86 integer dot products from the compiler's Builtin module
        // (compiled with -parse-stdlib; every function inlines into its caller).
        .target(name: "SACIntrinsics", swiftSettings: cpuFlags + [.unsafeFlags(["-parse-stdlib"])]),
        // AVX-512 micro-kernels (x86-64 only), chosen at run time by SACTensor.
        .target(name: "SACTensorAVX512", swiftSettings: avx512Flags),
        // Llama config and weights, GGUF/safetensors readers, BPE tokenizer, KV cache, inference.
        .target(name: "SACModel", dependencies: ["SACTensor"], swiftSettings: kernelFlags),
        // Compression methods (SAC, EPL, 500xCompressor, ICAE, full, tokens): carriers, masks,
        // positions, LoRA, the encoder and decoder drivers, CompressedMemory and its file format.
        .target(name: "SACCompression", dependencies: ["SACModel", "SACTensor"], swiftSettings: kernelFlags),
        // Data readers: MRQA (.jsonl / .jsonl.gz), SQuAD v1.1 JSON, plain text.
        .target(name: "SACData", dependencies: ["CZlib"], swiftSettings: cpuFlags),
        // zlib from the system (gzip's DEFLATE data).
        .systemLibrary(name: "CZlib", path: "Sources/CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        // Objectives (LM, AE, QA), batching, the trainer, checkpoints and resume.
        .target(name: "SACTraining", dependencies: ["SACCompression", "SACData", "SACEvaluation", "SACModel", "SACTensor"], swiftSettings: kernelFlags),
        // Metrics (ROUGE-1 set F, EM, SQuAD F1/EM), the evaluator, Markdown/JSON reports.
        .target(name: "SACEvaluation", dependencies: ["SACCompression", "SACData", "SACModel"], swiftSettings: cpuFlags),
        // Compressed memories on disk: safetensors files plus a GRDB (SQLite) index, atomic writes.
        .target(
            name: "SACStore",
            dependencies: [
                "SACCompression", "SACModel", .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: cpuFlags),
        // The HTTP service (Hummingbird 2): contexts, answers, OpenAI-compatible chat, metrics.
        .target(
            name: "SACServer",
            dependencies: [
                "SACStore", "SACCompression", "SACModel",
                .product(name: "Hummingbird", package: "hummingbird"), .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: cpuFlags),
        // The command-line tool.
        .executableTarget(
            name: "sac",
            dependencies: [
                "SACTensor", "SACModel", "SACCompression", "SACData", "SACTraining", "SACEvaluation", "SACStore", "SACServer",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: cpuFlags),
        .testTarget(
            name: "SACTensorTests", dependencies: ["SACTensor"], exclude: ["ref_ops.py"], swiftSettings: cpuFlags),
        .testTarget(
            name: "SACModelTests", dependencies: ["SACModel", "SACTensor"],
            resources: [.copy("Fixtures")], swiftSettings: cpuFlags),
        .testTarget(
            name: "SACCompressionTests", dependencies: ["SACCompression", "SACModel", "SACTensor"], swiftSettings: cpuFlags),
        .testTarget(
            name: "SACDataTests", dependencies: ["SACData"], resources: [.copy("Fixtures")], swiftSettings: cpuFlags),
        .testTarget(
            name: "SACTrainingTests", dependencies: ["SACTraining", "SACCompression", "SACData", "SACModel", "SACTensor"],
            swiftSettings: cpuFlags),
        .testTarget(
            name: "SACEvaluationTests", dependencies: ["SACEvaluation", "SACData", "SACCompression", "SACModel"],
            swiftSettings: cpuFlags),
        .testTarget(
            name: "SACServerTests",
            dependencies: [
                "SACServer", "SACStore", "SACCompression", "SACModel",
                // A small HTTP/1.1 client on swift-nio (AsyncHTTPClient would add BoringSSL to the build).
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: cpuFlags),
    ]
)
