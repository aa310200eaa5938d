/// CRC-32 (ISO 3309, the polynomial 0xEDB88320 reflected) as used by gzip and zlib.
public enum CRC32 {
    /// Slicing-by-4 tables: `tables[k][b]` is the CRC of byte `b` followed by `k` zero bytes.
    static let tables: [[UInt32]] = {
        var t = [[UInt32]](repeating: [UInt32](repeating: 0, count: 256), count: 4)
        for n in 0..<256 {
            var c = UInt32(n)
            for _ in 0..<8 { c = (c & 1) != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
            t[0][n] = c
        }
        for n in 0..<256 {
            for k in 1..<4 { t[k][n] = (t[k - 1][n] >> 8) ^ t[0][Int(t[k - 1][n] & 0xFF)] }
        }
        return t
    }()

    /// The CRC-32 of `bytes`, continuing from `crc` (the CRC of the bytes before; 0 to start).
    public static func checksum(_ bytes: UnsafeRawBufferPointer, continuing crc: UInt32 = 0) -> UInt32 {
        var c = ~crc
        let t0 = tables[0], t1 = tables[1], t2 = tables[2], t3 = tables[3]
        t0.withUnsafeBufferPointer { t0 in
            t1.withUnsafeBufferPointer { t1 in
                t2.withUnsafeBufferPointer { t2 in
                    t3.withUnsafeBufferPointer { t3 in
                        var i = 0
                        let n = bytes.count
                        while i + 4 <= n {
                            c ^= UInt32(bytes[i]) | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2]) << 16 | UInt32(bytes[i + 3]) << 24
                            c = t3[Int(c & 0xFF)] ^ t2[Int((c >> 8) & 0xFF)] ^ t1[Int((c >> 16) & 0xFF)] ^ t0[Int(c >> 24)]
                            i += 4
                        }
                        while i < n {
                            c = t0[Int((c ^ UInt32(bytes[i])) & 0xFF)] ^ (c >> 8)
                            i += 1
                        }
                    }
                }
            }
        }
        return ~c
    }

    /// The CRC-32 of a byte sequence.
    public static func checksum<C: Collection>(_ bytes: C) -> UInt32 where C.Element == UInt8 {
        let array = Array(bytes)
        return array.withUnsafeBytes { checksum($0) }
    }
}
