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

let package = Package(
    name: "SAC",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "sac", targets: ["sac"]),
        .library(name: "SACTensor", targets: ["SACTensor"]),
        .library(name: "SACModel", targets: ["SACModel"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // Float32 storage, threaded SIMD kernels with forward and backward side by side, AdamW.
        .target(name: "SACTensor", swiftSettings: kernelFlags),
        // Llama config and weights, GGUF/safetensors readers, BPE tokenizer, KV cache, inference.
        .target(name: "SACModel", dependencies: ["SACTensor"], swiftSettings: kernelFlags),
        // The command-line tool.
        .executableTarget(
            name: "sac",
            dependencies: [
                "SACTensor", "SACModel",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: cpuFlags),
        .testTarget(
            name: "SACTensorTests", dependencies: ["SACTensor"], exclude: ["ref_ops.py"], swiftSettings: cpuFlags),
        .testTarget(
            name: "SACModelTests", dependencies: ["SACModel", "SACTensor"],
            resources: [.copy("Fixtures")], swiftSettings: cpuFlags),
    ]
)
