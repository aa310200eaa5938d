import ArgumentParser
import Foundation
import SACTensor

/// `sac bench gemm`: times `GEMM.sgemm` on the model's shapes for each transpose case.
struct BenchGEMM: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gemm",
        abstract: "Time single-precision GEMM (ms and GFLOP/s per shape, thread count and transpose case).")

    @Option(help: "Comma-separated thread counts.")
    var threads: String = "1,2"

    @Option(help: "Comma-separated shapes MxKxN (C is MxN, the inner dimension K).")
    var shapes: String = "512x576x576,512x576x192,512x576x1536,512x1536x576,512x576x49152,2048x2048x2048,1x576x49152"

    @Option(help: "Comma-separated transpose cases among NN, NT, TN, TT.")
    var cases: String = "NN,NT,TN"

    @Option(help: "Timed repetitions per measurement (the best is reported).")
    var reps: Int = 5

    @Flag(help: "Print one JSON array instead of a table.")
    var json = false

    func run() throws {
        let threadList = try threads.split(separator: ",").map { s -> Int in
            guard let t = Int(s), t > 0 else { throw ValidationError("bad thread count '\(s)'") }
            return t
        }
        let shapeList = try shapes.split(separator: ",").map { s -> (Int, Int, Int) in
            let parts = s.lowercased().split(separator: "x").compactMap { Int($0) }
            guard parts.count == 3, parts.allSatisfy({ $0 > 0 }) else {
                throw ValidationError("bad shape '\(s)', expected MxKxN")
            }
            return (parts[0], parts[1], parts[2])
        }
        let caseList = try cases.split(separator: ",").map { s -> (String, Bool, Bool) in
            switch s.uppercased() {
            case "NN": return ("NN", false, false)
            case "NT": return ("NT", false, true)
            case "TN": return ("TN", true, false)
            case "TT": return ("TT", true, true)
            default: throw ValidationError("bad case '\(s)', expected NN, NT, TN or TT")
            }
        }
        guard reps > 0 else { throw ValidationError("--reps must be positive") }
        var records: [[String: Any]] = []
        if !json {
            print("kernels: \(GEMM.kernelFamily)")
            print("shape(MxKxN)        threads case       ms   GFLOP/s")
        }
        for (m, k, n) in shapeList {
            var rng = SplitMix64(seed: 1)
            let a = (0..<(m * k)).map { _ in Float.random(in: -1..<1, using: &rng) }
            let b = (0..<(k * n)).map { _ in Float.random(in: -1..<1, using: &rng) }
            var c = [Float](repeating: 0, count: m * n)
            for t in threadList {
                Parallel.threads = t
                for (name, ta, tb) in caseList {
                    let best = a.withUnsafeBufferPointer { pa in
                        b.withUnsafeBufferPointer { pb in
                            c.withUnsafeMutableBufferPointer { pc in
                                func call() {
                                    GEMM.sgemm(
                                        transA: ta, transB: tb, m: m, n: n, k: k, alpha: 1,
                                        a: pa.baseAddress!, lda: ta ? m : k, b: pb.baseAddress!, ldb: tb ? k : n,
                                        beta: 0, c: pc.baseAddress!, ldc: n)
                                }
                                call()  // warm-up
                                var best = Double.infinity
                                for _ in 0..<reps {
                                    let t0 = DispatchTime.now().uptimeNanoseconds
                                    call()
                                    best = min(best, Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6)
                                }
                                return best
                            }
                        }
                    }
                    let gflops = 2.0 * Double(m) * Double(n) * Double(k) / (best * 1e6)
                    if json {
                        records.append(["m": m, "k": k, "n": n, "threads": t, "case": name, "ms": best, "gflops": gflops])
                    } else {
                        let shape = "\(m)x\(k)x\(n)".padding(toLength: 20, withPad: " ", startingAt: 0)
                        print(shape + String(format: "%7d ", t) + name + String(format: " %10.3f %9.2f", best, gflops))
                    }
                }
            }
        }
        if json {
            let data = try JSONSerialization.data(withJSONObject: records, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        }
    }
}
