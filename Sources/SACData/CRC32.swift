import CZlib

/// CRC-32 (ISO 3309, the reflected polynomial 0xEDB88320) as used by gzip: zlib's `crc32`.
public enum CRC32 {
    /// The CRC-32 of `bytes`, continuing from `crc` (the CRC of the bytes before; 0 to start).
    public static func checksum(_ bytes: UnsafeRawBufferPointer, continuing crc: UInt32 = 0) -> UInt32 {
        var c = UInt(crc)
        var p = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self)
        var n = bytes.count
        while n > 0, let q = p {
            let take = min(n, Int(UInt32.max >> 1))
            c = crc32(c, q, UInt32(take))
            p = q + take
            n -= take
        }
        return UInt32(truncatingIfNeeded: c)
    }

    /// The CRC-32 of `bytes`.
    public static func checksum(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBytes { checksum($0) }
    }
}
