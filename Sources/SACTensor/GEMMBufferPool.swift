import Foundation

/// A small pool of 64-byte-aligned Float buffers for the packed GEMM panels, so that a call
/// reuses the memory (and the already-faulted pages) of earlier calls instead of allocating.
///
/// One buffer is taken per `sgemm` call (or per batch worker) and returned at the end; the
/// threads of one call share it and write disjoint parts of it.
final class GEMMBufferPool: @unchecked Sendable {
    static let shared = GEMMBufferPool()

    private let lock = NSLock()
    private var free: [(pointer: UnsafeMutablePointer<Float>, capacity: Int)] = []
    /// Buffers kept when returned; more are released to the system.
    private let keep = 8

    /// A buffer of at least `count` floats; give it back with `release`.
    func acquire(_ count: Int) -> (pointer: UnsafeMutablePointer<Float>, capacity: Int) {
        lock.lock()
        if let i = free.firstIndex(where: { $0.capacity >= count }) {
            let b = free.remove(at: i)
            lock.unlock()
            return b
        }
        lock.unlock()
        // Round up so that slightly larger later requests reuse this buffer.
        let capacity = max(count, 1024).roundedUp(to: 16384)
        let raw = UnsafeMutableRawPointer.allocate(byteCount: capacity * 4, alignment: 64)
        return (raw.bindMemory(to: Float.self, capacity: capacity), capacity)
    }

    /// Returns a buffer obtained from `acquire`.
    func release(_ buffer: (pointer: UnsafeMutablePointer<Float>, capacity: Int)) {
        lock.lock()
        free.append(buffer)
        free.sort { $0.capacity < $1.capacity }
        var dropped: [(pointer: UnsafeMutablePointer<Float>, capacity: Int)] = []
        while free.count > keep { dropped.append(free.removeFirst()) }
        lock.unlock()
        for d in dropped { UnsafeMutableRawPointer(d.pointer).deallocate() }
    }
}

extension Int {
    /// The smallest multiple of `m` that is `>= self` (for `self >= 0`, `m > 0`).
    @inline(__always) func roundedUp(to m: Int) -> Int { (self + m - 1) / m * m }
}
