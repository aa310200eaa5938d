import Foundation

/// Row operations of the attention kernels on raw Float pointers (SIMD8 bodies, scalar tails).
extension AttentionSIMD {
    /// The largest of `x[0..<n]`, −∞ when `n == 0`.
    @inline(__always)
    static func max(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
        var m8 = SIMD8<Float>(repeating: -.infinity)
        var j = 0
        while j + 8 <= n {
            m8 = lanesMax(m8, UnsafeRawPointer(x + j).loadUnaligned(as: SIMD8<Float>.self))
            j += 8
        }
        var m = m8[0]
        for l in 1..<8 { m = Swift.max(m, m8[l]) }
        while j < n { m = Swift.max(m, x[j]); j += 1 }
        return m
    }

    /// Replaces `x[j]` by `e^(x[j] − shift)` for `j < n` and returns the sum of the new values.
    /// Entries equal to −∞ become 0. `shift` must be finite.
    @inline(__always)
    static func expShifted(_ x: UnsafeMutablePointer<Float>, _ n: Int, shift: Float) -> Float {
        let sh = SIMD8<Float>(repeating: shift)
        var acc = SIMD8<Float>()
        var j = 0
        while j + 8 <= n {
            let raw = UnsafeMutableRawPointer(x + j)
            let e = exp(raw.loadUnaligned(as: SIMD8<Float>.self) - sh)
            raw.storeBytes(of: e, as: SIMD8<Float>.self)
            acc += e
            j += 8
        }
        var sum = acc.sum()
        if j < n {
            var tail = SIMD8<Float>(repeating: -.infinity)
            for l in 0..<(n - j) { tail[l] = x[j + l] }
            let e = exp(tail - sh)
            for l in 0..<(n - j) { x[j + l] = e[l]; sum += e[l] }
        }
        return sum
    }

    /// `Σ a[d]·b[d]` for `d < n`.
    @inline(__always)
    static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
        var acc = SIMD8<Float>()
        var d = 0
        while d + 8 <= n {
            acc = acc.addingProduct(
                UnsafeRawPointer(a + d).loadUnaligned(as: SIMD8<Float>.self),
                UnsafeRawPointer(b + d).loadUnaligned(as: SIMD8<Float>.self))
            d += 8
        }
        var s = acc.sum()
        while d < n { s += a[d] * b[d]; d += 1 }
        return s
    }

    /// `x[j] *= c` for `j < n`.
    @inline(__always)
    static func scale(_ x: UnsafeMutablePointer<Float>, _ n: Int, by c: Float) {
        var j = 0
        while j + 8 <= n {
            let raw = UnsafeMutableRawPointer(x + j)
            raw.storeBytes(of: raw.loadUnaligned(as: SIMD8<Float>.self) * c, as: SIMD8<Float>.self)
            j += 8
        }
        while j < n { x[j] *= c; j += 1 }
    }

    /// `dst[j] = src[j]·c` for `j < n`.
    @inline(__always)
    static func scaledCopy(_ dst: UnsafeMutablePointer<Float>, _ src: UnsafePointer<Float>, _ n: Int, by c: Float) {
        var j = 0
        while j + 8 <= n {
            UnsafeMutableRawPointer(dst + j).storeBytes(
                of: UnsafeRawPointer(src + j).loadUnaligned(as: SIMD8<Float>.self) * c, as: SIMD8<Float>.self)
            j += 8
        }
        while j < n { dst[j] = src[j] * c; j += 1 }
    }

    /// `ds[j] = p[j]·(ds[j] − d)` for `j < n` (softmax backward: ds holds dP on entry).
    @inline(__always)
    static func softmaxGrad(_ p: UnsafePointer<Float>, _ ds: UnsafeMutablePointer<Float>, _ n: Int, _ d: Float) {
        let d8 = SIMD8<Float>(repeating: d)
        var j = 0
        while j + 8 <= n {
            let raw = UnsafeMutableRawPointer(ds + j)
            let pv = UnsafeRawPointer(p + j).loadUnaligned(as: SIMD8<Float>.self)
            raw.storeBytes(of: pv * (raw.loadUnaligned(as: SIMD8<Float>.self) - d8), as: SIMD8<Float>.self)
            j += 8
        }
        while j < n { ds[j] = p[j] * (ds[j] - d); j += 1 }
    }

    /// Sets `x[j] = −∞` for every `j < n` with `allowed[j] == false`.
    @inline(__always)
    static func applyMask(_ x: UnsafeMutablePointer<Float>, _ allowed: UnsafePointer<Bool>, _ n: Int) {
        for j in 0..<n where !allowed[j] { x[j] = -.infinity }
    }
}

/// Hands out work items `0..<count` to the workers of one parallel loop, each item once:
/// dynamically in order (first come, first served), or, with `interleaved`, statically
/// (worker `w` of `workers` gets `w, w + workers, …`; tests use it so that every worker
/// really takes part).
final class AttentionWorkQueue: @unchecked Sendable {
    private let lock = NSLock()
    private var nextItem = 0
    private var perWorker: [Int]
    private let count: Int, workers: Int, interleaved: Bool

    init(count: Int, workers: Int, interleaved: Bool) {
        self.count = count; self.workers = workers; self.interleaved = interleaved
        perWorker = Array(0..<workers)
    }

    /// The next item for worker `w`, or nil when it has no more.
    func next(worker w: Int) -> Int? {
        lock.lock()
        defer { lock.unlock() }
        if interleaved {
            let i = perWorker[w]
            if i >= count { return nil }
            perWorker[w] += workers
            return i
        }
        if nextItem >= count { return nil }
        nextItem += 1
        return nextItem - 1
    }
}

/// How an attention call splits its queries, heads and threads.
struct AttentionPlan {
    /// Query rows per block (a multiple of the GEMM micro-kernel's 6 rows, or T).
    let blockRows: Int
    /// Number of query blocks.
    let blocks: Int
    /// Query heads handled together by one item: 1, or all heads of a kv group (their query
    /// blocks are stacked into one GEMM against the shared keys/values).
    let headsPerItem: Int
    /// Work items: (head unit, block) pairs, item `i` ↦ unit `i % units`, block
    /// `blocks − 1 − i / units` (largest causal blocks first, for balance).
    let items: Int
    /// Number of workers (at most the threads given and the items).
    let workers: Int

    init(dims: AttentionDims, threads: Int, stackGroups: Bool = false) {
        let t = dims.queries
        let target = 48
        let nb = Swift.max(1, (t + target - 1) / target)
        var rows = (t + nb - 1) / nb
        if nb > 1 { rows = (rows + 5) / 6 * 6 }
        blockRows = Swift.max(1, rows)
        blocks = t == 0 ? 0 : (t + blockRows - 1) / blockRows
        headsPerItem = stackGroups ? dims.group : 1
        items = blocks * (dims.heads / headsPerItem)
        workers = Swift.max(1, Swift.min(threads, items))
    }

    /// Whether to stack the query heads of a kv group into one item: it packs each kv head's
    /// keys/values once per block instead of once per query head (≈30% faster forward at
    /// T = S = 510 on one thread) and reads a decoding step's cache once per group, but makes
    /// `heads / kvHeads` times fewer items, so it is skipped when that starves the threads.
    static func stacks(_ dims: AttentionDims, threads: Int) -> Bool {
        if dims.group == 1 { return false }
        let blocks = (dims.queries + 47) / 48
        return threads <= 1 || dims.queries <= 4 || dims.kvHeads * blocks >= 2 * threads
    }

    /// The threads worth using for `dims` out of `available`: waking a second thread costs tens
    /// of µs, so calls under ~0.5 MFLOP run on the caller's thread.
    static func threads(for dims: AttentionDims, available: Int) -> Int {
        let work = dims.queries * dims.keys * dims.headDim * dims.heads
        return work < (1 << 18) ? 1 : available
    }

    /// The first head and the query rows of item `i` (heads `head ..< head + headsPerItem`).
    @inline(__always)
    func item(_ i: Int, dims: AttentionDims) -> (head: Int, rows: Range<Int>) {
        let units = dims.heads / headsPerItem
        let h = (i % units) * headsPerItem
        let b = blocks - 1 - i / units
        let lo = b * blockRows
        return (h, lo..<Swift.min(dims.queries, lo + blockRows))
    }
}
