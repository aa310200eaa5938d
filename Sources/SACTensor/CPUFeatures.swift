import Foundation
#if canImport(Darwin)
import Darwin
#endif

/// What the CPU (and the operating system's saved register state) supports, read once at run
/// time, so that one binary can use 512-bit kernels where they exist and AVX2 elsewhere.
public enum CPUFeatures {
    /// True when AVX-512F is usable: the CPU has it and the kernel saves the ZMM registers.
    ///
    /// On Linux, `/proc/cpuinfo` lists `avx512f` only when both hold (the kernel clears the
    /// flag when XSAVE does not cover the ZMM state); on macOS, `hw.optional.avx512f`.
    public static let hasAVX512F: Bool = {
        #if arch(x86_64)
        #if os(Linux)
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return false }
        for line in text.split(separator: "\n") where line.hasPrefix("flags") {
            return line.split(separator: " ").contains("avx512f")
        }
        return false
        #elseif canImport(Darwin)
        var value: Int32 = 0
        var size = MemoryLayout<Int32>.size
        return sysctlbyname("hw.optional.avx512f", &value, &size, nil, 0) == 0 && value != 0
        #else
        return false
        #endif
        #else
        return false
        #endif
    }()

    /// The GEMM kernel family chosen at start: AVX-512 when the CPU has it, unless the
    /// environment says `SAC_KERNELS=avx2` (to compare, or to rule the wide kernels out).
    public static let preferAVX512: Bool = {
        if ProcessInfo.processInfo.environment["SAC_KERNELS"]?.lowercased() == "avx2" { return false }
        return hasAVX512F
    }()
}
