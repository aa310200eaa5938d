import Foundation
import SACTensor

/// Element types of the safetensors format.
public enum SafetensorsDType: String, Sendable, CaseIterable {
    case F64, F32, F16, BF16, I64, I32, I16, I8, U64, U32, U16, U8, BOOL, F8_E4M3, F8_E5M2

    /// Bytes per element.
    public var size: Int {
        switch self {
        case .F64, .I64, .U64: return 8
        case .F32, .I32, .U32: return 4
        case .F16, .BF16, .I16, .U16: return 2
        case .I8, .U8, .BOOL, .F8_E4M3, .F8_E5M2: return 1
        }
    }
}

/// Where one tensor lives in a safetensors file.
public struct SafetensorsTensorInfo: Sendable, Equatable {
    /// The tensor's name.
    public let name: String
    /// Element type.
    public let dtype: SafetensorsDType
    /// Row-major shape, outermost first.
    public let shape: [Int]
    /// Byte range of the data, relative to the start of the file.
    public let fileRange: Range<Int>
    /// Number of elements.
    public var elementCount: Int { shape.reduce(1, *) }
}

/// A safetensors file, memory-mapped: an 8-byte little-endian header length, a JSON header
/// (`{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {String: String}}`),
/// then the data. Offsets are relative to the end of the header.
public final class SafetensorsFile: @unchecked Sendable {
    /// The path the file was opened with.
    public let path: String
    /// The `__metadata__` strings (empty when absent).
    public let metadata: [String: String]
    /// Tensor infos by name.
    public let tensors: [String: SafetensorsTensorInfo]
    /// The mapping that holds the bytes.
    public let mapping: MappedFile

    /// Largest header accepted (the format's own limit is 100 MB).
    public static let maxHeaderSize = 100_000_000

    /// Opens and validates `path`. Throws `ModelError` naming the file and field for: a short
    /// file, a header length beyond the file, a header that is not a JSON object, unknown
    /// dtypes (`unsupported`), bad shapes, and data offsets that are reversed, out of bounds
    /// or disagree with shape × dtype size.
    public init(path: String) throws {
        self.path = path
        let mapping = try MappedFile(path: path)
        self.mapping = mapping
        let bytes = mapping.bytes
        guard bytes.count >= 8 else {
            throw ModelError.truncated(file: path, field: "header length", needed: 8, available: bytes.count)
        }
        let n = UInt64(littleEndian: bytes.baseAddress!.loadUnaligned(as: UInt64.self))
        guard n <= UInt64(min(Self.maxHeaderSize, bytes.count - 8)) else {
            throw ModelError.truncated(file: path, field: "header", needed: Int(clamping: n), available: bytes.count - 8)
        }
        let headerEnd = 8 + Int(n)
        let json: Any
        do {
            json = try JSONSerialization.jsonObject(with: Data(bytes[8..<headerEnd]))
        } catch {
            throw ModelError.invalidField(file: path, field: "header", expected: "a JSON object", found: "invalid JSON")
        }
        guard let dict = json as? [String: Any] else {
            throw ModelError.invalidField(file: path, field: "header", expected: "a JSON object", found: "\(type(of: json))")
        }
        let dataSize = bytes.count - headerEnd
        var meta: [String: String] = [:]
        var infos: [String: SafetensorsTensorInfo] = [:]
        for (name, value) in dict {
            if name == "__metadata__" {
                guard let m = value as? [String: Any] else {
                    throw ModelError.invalidField(file: path, field: name, expected: "an object of strings", found: "\(value)")
                }
                for (k, v) in m {
                    guard let s = v as? String else {
                        throw ModelError.invalidField(file: path, field: "__metadata__.\(k)", expected: "a string", found: "\(v)")
                    }
                    meta[k] = s
                }
                continue
            }
            guard let t = value as? [String: Any] else {
                throw ModelError.invalidField(file: path, field: name, expected: "an object", found: "\(value)")
            }
            guard let ds = t["dtype"] as? String else { throw ModelError.missingField(file: path, field: name + ".dtype") }
            guard let dtype = SafetensorsDType(rawValue: ds) else {
                throw ModelError.unsupported(file: path, field: name + ".dtype", what: "dtype \(ds)")
            }
            guard let shapeAny = t["shape"] as? [Any] else {
                throw ModelError.missingField(file: path, field: name + ".shape")
            }
            let shape = try shapeAny.map { d -> Int in
                guard let i = Self.nonNegativeInt(d) else {
                    throw ModelError.invalidField(file: path, field: name + ".shape", expected: "non-negative integers", found: "\(shapeAny)")
                }
                return i
            }
            guard let offs = t["data_offsets"] as? [Any], offs.count == 2,
                  let begin = Self.nonNegativeInt(offs[0]), let end = Self.nonNegativeInt(offs[1]), begin <= end
            else {
                throw ModelError.invalidField(
                    file: path, field: name + ".data_offsets", expected: "[begin, end] with 0 <= begin <= end",
                    found: "\(t["data_offsets"] ?? "nothing")")
            }
            guard end <= dataSize else {
                throw ModelError.truncated(file: path, field: name + ".data_offsets", needed: end, available: dataSize)
            }
            var count = 1
            for d in shape {
                let (p, o) = count.multipliedReportingOverflow(by: d)
                guard !o else {
                    throw ModelError.invalidField(file: path, field: name + ".shape", expected: "a size below 2^63", found: "\(shape)")
                }
                count = p
            }
            let (nbytes, o) = count.multipliedReportingOverflow(by: dtype.size)
            guard !o, nbytes == end - begin else {
                throw ModelError.invalidField(
                    file: path, field: name + ".data_offsets",
                    expected: "\(o ? "overflow" : String(nbytes)) bytes for \(shape) \(dtype)", found: "\(end - begin)")
            }
            infos[name] = SafetensorsTensorInfo(
                name: name, dtype: dtype, shape: shape, fileRange: (headerEnd + begin)..<(headerEnd + end))
        }
        metadata = meta
        tensors = infos
    }

    static func nonNegativeInt(_ v: Any) -> Int? {
        if let n = v as? NSNumber {
            let d = n.doubleValue
            guard d >= 0, d < 9.0e18, d == d.rounded() else { return nil }
            return n.intValue
        }
        return nil
    }

    /// Tensor names, sorted.
    public var tensorNames: [String] { tensors.keys.sorted() }

    /// The raw bytes of a tensor, valid while this file is alive.
    public func rawBytes(_ info: SafetensorsTensorInfo) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: mapping.bytes[info.fileRange])
    }

    /// The tensor `name` converted to Float32 (from F32, F16 or BF16). Throws `missingField`
    /// when absent and `unsupported` for other dtypes.
    public func tensor(_ name: String) throws -> Tensor {
        guard let info = tensors[name] else { throw ModelError.missingField(file: path, field: name) }
        let type: GGMLType
        switch info.dtype {
        case .F32: type = .f32
        case .F16: type = .f16
        case .BF16: type = .bf16
        default: throw ModelError.unsupported(file: path, field: name + ".dtype", what: "dtype \(info.dtype) (expected F32, F16, BF16)")
        }
        let data = try Dequantize.toFloats(type, bytes: rawBytes(info), count: info.elementCount, file: path, field: name)
        return try Tensor(shape: info.shape, data: data)
    }
}
