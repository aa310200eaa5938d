#if canImport(Glibc)
import Glibc
#endif

/// Process-wide settings of the C allocator for numeric work.
public enum AllocatorTuning {
    /// Largest block (bytes) that glibc's `malloc` serves from its heap once
    /// `keepFreedMemory()` ran; larger blocks still get their own mapping.
    public static let heapBlockLimit: Int32 = 32 << 20

    /// Makes glibc keep freed blocks of up to `heapBlockLimit` bytes in the process for reuse,
    /// instead of mapping each large block afresh and unmapping it on `free`.
    ///
    /// A training step allocates and frees the same few-hundred-kilobyte arrays every time
    /// (gradients handed between the encoder and the decoder, key/value copies); with glibc's
    /// defaults each such block is a new mapping whose pages the kernel zeroes on first touch,
    /// about 7,000 page faults (28 MB) per SmolLM2 step. After this call the steady state has
    /// none. The cost is that up to 1 GiB of freed memory may stay resident instead of going
    /// back to the system. Returns whether both settings were accepted; does nothing (false)
    /// where the allocator is not glibc's. Call it once, early, before the work starts.
    @discardableResult
    public static func keepFreedMemory() -> Bool {
        #if canImport(Glibc)
        // `mallopt` is declared in <malloc.h>, which the Glibc module does not export: look it
        // up by name (the constants are glibc's M_TRIM_THRESHOLD −1 and M_MMAP_THRESHOLD −3).
        typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
        guard let sym = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mallopt") else { return false }
        let mallopt = unsafeBitCast(sym, to: Mallopt.self)
        let a = mallopt(-3, heapBlockLimit)
        let b = mallopt(-1, 1 << 30)
        return a == 1 && b == 1
        #else
        return false
        #endif
    }
}
