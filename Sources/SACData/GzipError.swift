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
    /// A block header names the reserved block type 3.
    case invalidBlockType(offset: Int)
    /// A stored block's LEN is not the one's complement of its NLEN.
    case storedLengthMismatch(offset: Int, length: Int, complement: Int)
    /// A dynamic block's code lengths do not describe a usable prefix code.
    case invalidHuffmanTable(offset: Int, reason: String)
    /// The bits at `offset` match no code of the current table, or an unused symbol.
    case invalidCode(offset: Int, reason: String)
    /// A back-reference points before the start of the member's output.
    case invalidDistance(offset: Int, distance: Int, available: Int)
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
        case let .invalidBlockType(offset):
            return "deflate: byte \(offset): block type 3 is reserved, expected 0, 1 or 2"
        case let .storedLengthMismatch(offset, length, complement):
            return "deflate: byte \(offset): stored block LEN \(length) is not the complement of NLEN \(complement)"
        case let .invalidHuffmanTable(offset, reason):
            return "deflate: byte \(offset): invalid Huffman code lengths: \(reason)"
        case let .invalidCode(offset, reason):
            return "deflate: byte \(offset): invalid code: \(reason)"
        case let .invalidDistance(offset, distance, available):
            return "deflate: byte \(offset): distance \(distance) reaches before the start (only \(available) bytes decoded)"
        case let .badCRC(member, expected, actual):
            return "gzip: member \(member): CRC32 0x\(String(actual, radix: 16)) of the data, trailer says 0x\(String(expected, radix: 16))"
        case let .badSize(member, expected, actual):
            return "gzip: member \(member): decoded \(actual) bytes (mod 2^32), trailer ISIZE says \(expected)"
        }
    }
}
