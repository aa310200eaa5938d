import Foundation

/// A pure-Swift gzip (RFC 1952) decoder with a table-driven DEFLATE (RFC 1951) inflater.
public enum Gzip {
    /// Whether `data` starts with the gzip magic bytes `1f 8b`.
    public static func hasMagic(_ data: Data) -> Bool {
        data.count >= 2 && data[data.startIndex] == 0x1F && data[data.startIndex + 1] == 0x8B
    }

    /// Decompresses every member of a gzip file and returns their concatenated contents.
    ///
    /// Stored, fixed and dynamic Huffman blocks are supported; each member's CRC32 and ISIZE
    /// are checked. Zero bytes after the last member are ignored (as gzip(1) and Python do);
    /// any other trailing bytes must form a valid member.
    /// - Throws: `GzipError` for an empty, truncated or corrupt input.
    public static func decompress(_ data: Data) throws(GzipError) -> Data {
        let bytes = [UInt8](data)
        return try bytes.withUnsafeBufferPointer { (input) throws(GzipError) -> Data in
            var inflater = Inflater(input: input, position: 0, outputCapacity: input.count * 4)
            var member = 0
            while true {
                member += 1
                let memberStart = inflater.output.count
                inflater.position = try readHeader(input, at: inflater.position)
                try inflater.inflateStream()
                let p = inflater.position
                guard p + 8 <= input.count else { throw .truncated(offset: input.count, expected: "member \(member) trailer (CRC32, ISIZE)") }
                let expectedCRC = readUInt32(input, p)
                let expectedSize = readUInt32(input, p + 4)
                inflater.position = p + 8
                let produced = inflater.output.count - memberStart
                let crc = CRC32.checksum(UnsafeRawBufferPointer(start: inflater.output.base + memberStart, count: produced))
                guard crc == expectedCRC else { throw .badCRC(member: member, expected: expectedCRC, actual: crc) }
                let size = UInt32(truncatingIfNeeded: produced)
                guard size == expectedSize else { throw .badSize(member: member, expected: expectedSize, actual: size) }
                var next = inflater.position
                while next < input.count && input[next] == 0 { next += 1 }
                if next == input.count { break }
                inflater.position = next
            }
            return Data(bytes: inflater.output.base, count: inflater.output.count)
        }
    }

    @inline(__always) static func readUInt32(_ b: UnsafeBufferPointer<UInt8>, _ p: Int) -> UInt32 {
        UInt32(b[p]) | UInt32(b[p + 1]) << 8 | UInt32(b[p + 2]) << 16 | UInt32(b[p + 3]) << 24
    }

    /// Parses a member header at `start` and returns the offset of its DEFLATE data.
    static func readHeader(_ b: UnsafeBufferPointer<UInt8>, at start: Int) throws(GzipError) -> Int {
        guard start + 10 <= b.count else { throw .truncated(offset: b.count, expected: "gzip header (10 bytes)") }
        guard b[start] == 0x1F, b[start + 1] == 0x8B else { throw .badMagic(offset: start) }
        guard b[start + 2] == 8 else { throw .unsupportedMethod(offset: start + 2, method: b[start + 2]) }
        let flags = b[start + 3]
        guard flags & 0xE0 == 0 else { throw .reservedFlags(offset: start + 3, flags: flags) }
        var p = start + 10
        if flags & 0x04 != 0 {  // FEXTRA
            guard p + 2 <= b.count else { throw .truncated(offset: b.count, expected: "header XLEN") }
            let xlen = Int(b[p]) | Int(b[p + 1]) << 8
            p += 2 + xlen
            guard p <= b.count else { throw .truncated(offset: b.count, expected: "header extra field (\(xlen) bytes)") }
        }
        for (bit, name) in [(UInt8(0x08), "header file name"), (0x10, "header comment")] where flags & bit != 0 {
            while p < b.count && b[p] != 0 { p += 1 }
            guard p < b.count else { throw .truncated(offset: b.count, expected: "\(name) (zero-terminated)") }
            p += 1
        }
        if flags & 0x02 != 0 {  // FHCRC
            guard p + 2 <= b.count else { throw .truncated(offset: b.count, expected: "header CRC16") }
            let stored = UInt32(b[p]) | UInt32(b[p + 1]) << 8
            let crc = CRC32.checksum(UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: b[start..<p]))) & 0xFFFF
            guard crc == stored else { throw .badHeaderCRC(offset: p) }
            p += 2
        }
        return p
    }
}
