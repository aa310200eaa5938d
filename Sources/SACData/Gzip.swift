import CZlib
import Foundation

/// A gzip (RFC 1952) decoder: the member headers and trailers are read here (with typed
/// errors), the DEFLATE data (RFC 1951) by zlib's raw inflate.
public enum Gzip {
    /// Whether `data` starts with the gzip magic bytes `1f 8b`.
    public static func hasMagic(_ data: Data) -> Bool {
        data.count >= 2 && data[data.startIndex] == 0x1F && data[data.startIndex + 1] == 0x8B
    }

    /// Decompresses every member of a gzip file and returns their concatenated contents.
    ///
    /// Each member's CRC32 and ISIZE are checked. Zero bytes after the last member are ignored
    /// (as gzip(1) and Python do); any other trailing bytes must form a valid member.
    /// - Throws: `GzipError` for an empty, truncated or corrupt input.
    public static func decompress(_ data: Data) throws(GzipError) -> Data {
        let bytes = [UInt8](data)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 4)
        try bytes.withUnsafeBufferPointer { (input) throws(GzipError) -> Void in
            var position = 0
            var member = 0
            while true {
                member += 1
                let memberStart = out.count
                position = try readHeader(input, at: position)
                position = try inflateRaw(input, from: position, into: &out)
                let p = position
                guard p + 8 <= input.count else { throw .truncated(offset: input.count, expected: "member \(member) trailer (CRC32, ISIZE)") }
                let expectedCRC = readUInt32(input, p)
                let expectedSize = readUInt32(input, p + 4)
                position = p + 8
                let produced = out.count - memberStart
                let crc = out.withUnsafeBytes { CRC32.checksum(UnsafeRawBufferPointer(rebasing: $0[memberStart...])) }
                guard crc == expectedCRC else { throw .badCRC(member: member, expected: expectedCRC, actual: crc) }
                let size = UInt32(truncatingIfNeeded: produced)
                guard size == expectedSize else { throw .badSize(member: member, expected: expectedSize, actual: size) }
                var next = position
                while next < input.count && input[next] == 0 { next += 1 }
                if next == input.count { break }
                position = next
            }
        }
        return Data(out)
    }

    /// Inflates the raw DEFLATE stream that starts at `start`, appending to `out`; returns the
    /// offset just after the stream's last block.
    static func inflateRaw(_ input: UnsafeBufferPointer<UInt8>, from start: Int, into out: inout [UInt8]) throws(GzipError) -> Int {
        var stream = z_stream()
        guard inflateInit2_(&stream, -MAX_WBITS, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw .invalidDeflate(offset: start, reason: "zlib could not start (out of memory)")
        }
        defer { inflateEnd(&stream) }
        let base = UnsafeMutablePointer(mutating: input.baseAddress ?? UnsafePointer(bitPattern: 1)!)
        var consumed = start
        let chunk = 1 << 18
        while true {
            let feed = min(input.count - consumed, Int(UInt32.max >> 1))
            stream.next_in = base + consumed
            stream.avail_in = UInt32(feed)
            let before = out.count
            out.append(contentsOf: repeatElement(0, count: max(chunk, feed * 4)))
            let room = out.count - before
            let status: Int32 = out.withUnsafeMutableBufferPointer { ob in
                stream.next_out = ob.baseAddress! + before
                stream.avail_out = UInt32(room)
                return inflate(&stream, Z_NO_FLUSH)
            }
            out.removeLast(Int(stream.avail_out))
            consumed += feed - Int(stream.avail_in)
            switch status {
            case Z_STREAM_END:
                return consumed
            case Z_OK:
                continue
            case Z_BUF_ERROR where stream.avail_in == 0:
                throw .truncated(offset: input.count, expected: "DEFLATE data (the stream's last block)")
            case Z_DATA_ERROR:
                let reason = stream.msg.map { String(cString: $0) } ?? "corrupt data"
                throw .invalidDeflate(offset: consumed, reason: reason)
            default:
                throw .invalidDeflate(offset: consumed, reason: "zlib status \(status)")
            }
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
