/// Why a gzip (RFC 1952) or DEFLATE (RFC 1951) stream could not be decoded.
///
/// Offsets are byte offsets into the compressed input; `member` counts gzip members from 1.
public enum GzipError: Error, Equatable, CustomStringConvertible {
    /// The input ended while `expected` was being read.
    case truncated(offset: Int, expected: String)
    /// The two magic bytes at `offset` are not `1f 8b`.
    case badMagic(offset: Int)
    /// The compression method byte is not 8 (DEFLATE).
    case unsupportedMethod(offset: Int, method: UInt8)
    /// The header sets one of the reserved flag bits 5–7.
    case reservedFlags(offset: Int, flags: UInt8)
    /// The optional header CRC16 does not match the header bytes.
    case badHeaderCRC(offset: Int)
    /// The DEFLATE data is corrupt (zlib's reason: "invalid block type", "invalid stored
    /// block lengths", "invalid code lengths set", "invalid distance too far back", …);
    /// `offset` is where the inflater stopped reading.
    case invalidDeflate(offset: Int, reason: String)
    /// The CRC32 in a member's trailer does not match the decoded bytes.
    case badCRC(member: Int, expected: UInt32, actual: UInt32)
    /// The ISIZE in a member's trailer does not match the decoded length modulo 2^32.
    case badSize(member: Int, expected: UInt32, actual: UInt32)

    public var description: String {
        switch self {
        case let .truncated(offset, expected):
            return "gzip: input ends at byte \(offset) while reading \(expected)"
        case let .badMagic(offset):
            return "gzip: byte \(offset): expected the gzip magic 1f 8b"
        case let .unsupportedMethod(offset, method):
            return "gzip: byte \(offset): compression method \(method), expected 8 (deflate)"
        case let .reservedFlags(offset, flags):
            return "gzip: byte \(offset): header flags 0x\(String(flags, radix: 16)) set reserved bits 5-7"
        case let .badHeaderCRC(offset):
            return "gzip: byte \(offset): header CRC16 does not match the header"
        case let .invalidDeflate(offset, reason):
            return "deflate: byte \(offset): \(reason)"
        case let .badCRC(member, expected, actual):
            return "gzip: member \(member): CRC32 0x\(String(actual, radix: 16)) of the data, trailer says 0x\(String(expected, radix: 16))"
        case let .badSize(member, expected, actual):
            return "gzip: member \(member): decoded \(actual) bytes (mod 2^32), trailer ISIZE says \(expected)"
        }
    }
}
