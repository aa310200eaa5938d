/// A heap buffer of Float32 that keeps its storage between uses (activations of a training
/// pass are reused step after step instead of being reallocated).
final class FloatBuffer {
    private(set) var pointer: UnsafeMutablePointer<Float>
    private(set) var capacity: Int
    /// Elements in use.
    private(set) var count: Int = 0

    init(_ count: Int = 0) {
        capacity = max(1, count)
        pointer = .allocate(capacity: capacity)
        self.count = count
    }

    deinit { pointer.deallocate() }

    /// Sets the size to `n` elements, reallocating (contents lost) when it does not fit;
    /// with `zero` the elements are cleared.
    func resize(_ n: Int, zero: Bool = false) {
        if n > capacity {
            pointer.deallocate()
            capacity = n
            pointer = .allocate(capacity: n)
        }
        count = n
        if zero { pointer.update(repeating: 0, count: n) }
    }

    /// Copies the first `count` elements into an array.
    var array: [Float] { Array(UnsafeBufferPointer(start: pointer, count: count)) }
}
