import SACTensor

/// Where one tensor lives in a GGUF file.
public struct GGUFTensorInfo: Sendable, Equatable {
    /// The tensor's name, e.g. "blk.0.attn_q.weight".
    public let name: String
    /// Dimensions in ggml order: `dims[0]` varies fastest (the number of columns).
    public let dims: [Int]
    /// Element type.
    public let type: GGMLType
    /// Offset of the data from the start of the file's data section (bytes).
    public let offset: Int
    /// Offset of the data from the start of the file (bytes).
    public let fileOffset: Int
    /// Number of elements.
    public let elementCount: Int
    /// Size of the data in bytes.
    public let byteCount: Int

    /// The row-major shape (outermost first): `dims` reversed. A matrix is `[rows, cols]`.
    public var shape: [Int] { dims.reversed() }
    /// Elements per row (`dims[0]`, or 1 for a scalar).
    public var cols: Int { dims.first ?? 1 }
    /// Number of rows (the product of the other dimensions).
    public var rows: Int { cols == 0 ? 0 : elementCount / cols }
}

/// A GGUF file (versions 2 and 3, little-endian), memory-mapped.
///
/// Opening parses the header, the metadata and the tensor infos and checks every length and
/// offset against the file size; tensor data stays in the mapping until asked for.
/// Spec: https://github.com/ggml-org/ggml/blob/master/docs/gguf.md
public final class GGUFFile: @unchecked Sendable {
    /// The path the file was opened with.
    public let path: String
    /// The format version (2 or 3).
    public let version: Int
    /// All metadata by key.
    public let metadata: [String: GGUFValue]
    /// Metadata keys in file order.
    public let metadataKeys: [String]
    /// Tensor infos in file order.
    public let tensors: [GGUFTensorInfo]
    /// Alignment of the data section and tensor offsets (`general.alignment`, default 32).
    public let alignment: Int
    /// File offset of the data section.
    public let dataOffset: Int
    /// The mapping that holds the bytes.
    public let mapping: MappedFile
    private let index: [String: Int]

    /// Largest number of dimensions a tensor may have (ggml's GGML_MAX_DIMS).
    public static let maxDims = 4

    /// Opens and parses `path`. Throws `ModelError` naming the file and field for: an
    /// unreadable file, bad magic, an unsupported version, truncation anywhere, absurd
    /// counts or lengths, unknown value or tensor types, bad alignment, misaligned or
    /// out-of-bounds tensor data, and duplicate names.
    public init(path: String) throws {
        self.path = path
        let mapping = try MappedFile(path: path)
        self.mapping = mapping
        var c = GGUFCursor(bytes: mapping.bytes, file: path)
        let magic = try c.read(UInt32.self, "magic")
        guard magic == 0x4655_4747 else {  // "GGUF" little-endian
            throw ModelError.invalidField(
                file: path, field: "magic", expected: "\"GGUF\"", found: String(format32: magic))
        }
        let v = try c.read(UInt32.self, "version")
        guard v == 2 || v == 3 else {
            throw ModelError.unsupported(file: path, field: "version", what: "GGUF version \(v) (supported: 2, 3)")
        }
        version = Int(v)
        // Minimum sizes: a tensor info is name length + n_dims + type + offset (24 bytes);
        // a metadata entry is key length + type + 1 byte of value (13 bytes).
        let nTensors = try c.count("tensor_count", minSize: 24)
        let nKV = try c.count("metadata_kv_count", minSize: 13)

        var metadata: [String: GGUFValue] = [:]
        var keys: [String] = []
        keys.reserveCapacity(nKV)
        for i in 0..<nKV {
            let key = try c.string("metadata[\(i)].key")
            let t = try c.valueType(key + ".type")
            let value = try c.value(t, key)
            guard metadata.updateValue(value, forKey: key) == nil else {
                throw ModelError.invalidField(file: path, field: key, expected: "a unique key", found: "a duplicate")
            }
            keys.append(key)
        }
        self.metadata = metadata
        metadataKeys = keys

        var alignment = 32
        if let a = metadata["general.alignment"] {
            guard case .uint32(let av) = a, av > 0, av & (av - 1) == 0 else {
                throw ModelError.invalidField(
                    file: path, field: "general.alignment", expected: "a uint32 power of two", found: "\(a)")
            }
            alignment = Int(av)
        }
        self.alignment = alignment

        struct Raw { let name: String; let dims: [Int]; let type: GGMLType; let offset: Int; let count: Int }
        var raws: [Raw] = []
        raws.reserveCapacity(nTensors)
        for i in 0..<nTensors {
            let name = try c.string("tensor[\(i)].name")
            let nd = try c.read(UInt32.self, name + ".n_dims")
            guard nd <= UInt32(Self.maxDims) else {
                throw ModelError.invalidField(
                    file: path, field: name + ".n_dims", expected: "at most \(Self.maxDims)", found: "\(nd)")
            }
            var dims: [Int] = []
            var count = 1
            for d in 0..<Int(nd) {
                let raw = try c.read(UInt64.self, name + ".dims[\(d)]")
                guard let dim = Int(exactly: raw) else {
                    throw ModelError.invalidField(
                        file: path, field: name + ".dims[\(d)]", expected: "a dimension below 2^63", found: "\(raw)")
                }
                let (p, o) = count.multipliedReportingOverflow(by: dim)
                guard !o else {
                    throw ModelError.invalidField(
                        file: path, field: name + ".dims", expected: "an element count below 2^63", found: "overflow")
                }
                count = p
                dims.append(dim)
            }
            let tr = try c.read(UInt32.self, name + ".type")
            guard let type = GGMLType(rawValue: tr) else {
                throw ModelError.unsupported(file: path, field: name + ".type", what: "ggml tensor type \(tr)")
            }
            let off = try c.read(UInt64.self, name + ".offset")
            guard let offset = Int(exactly: off), offset % alignment == 0 else {
                throw ModelError.invalidField(
                    file: path, field: name + ".offset", expected: "a multiple of the alignment \(alignment)",
                    found: "\(off)")
            }
            guard (dims.first ?? 1) % type.blockSize == 0 else {
                throw ModelError.invalidField(
                    file: path, field: name + ".dims[0]", expected: "a multiple of the \(type) block size \(type.blockSize)",
                    found: "\(dims.first ?? 1)")
            }
            raws.append(Raw(name: name, dims: dims, type: type, offset: offset, count: count))
        }

        let dataOffset = (c.pos + alignment - 1) / alignment * alignment
        self.dataOffset = dataOffset
        let fileSize = mapping.count
        var infos: [GGUFTensorInfo] = []
        var index: [String: Int] = [:]
        infos.reserveCapacity(raws.count)
        for r in raws {
            guard let size = r.type.byteCount(elements: r.count) else {
                throw ModelError.invalidField(
                    file: path, field: r.name + ".dims", expected: "a size below 2^63 bytes", found: "\(r.dims)")
            }
            let (start, o1) = dataOffset.addingReportingOverflow(r.offset)
            let (end, o2) = start.addingReportingOverflow(size)
            guard !o1, !o2, end <= fileSize else {
                throw ModelError.truncated(
                    file: path, field: r.name + ".data", needed: size, available: max(0, fileSize - min(start, fileSize)))
            }
            guard index.updateValue(infos.count, forKey: r.name) == nil else {
                throw ModelError.invalidField(file: path, field: r.name, expected: "a unique tensor name", found: "a duplicate")
            }
            infos.append(GGUFTensorInfo(
                name: r.name, dims: r.dims, type: r.type, offset: r.offset, fileOffset: start,
                elementCount: r.count, byteCount: size))
        }
        tensors = infos
        self.index = index
    }

    // MARK: Tensors

    /// Tensor names in file order.
    public var tensorNames: [String] { tensors.map(\.name) }

    /// The info of the tensor called `name`, or nil.
    public func tensorInfo(_ name: String) -> GGUFTensorInfo? {
        index[name].map { tensors[$0] }
    }

    /// The raw bytes of a tensor, valid while this file (its mapping) is alive.
    public func rawBytes(_ info: GGUFTensorInfo) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: mapping.bytes[info.fileOffset..<info.fileOffset + info.byteCount])
    }

    /// The tensor `name` dequantised to Float32, shape row-major (`dims` reversed).
    /// Throws `missingField` when absent and `unsupported` for types without a dequantiser.
    public func tensor(_ name: String) throws -> Tensor {
        guard let info = tensorInfo(name) else { throw ModelError.missingField(file: path, field: name) }
        let data = try Dequantize.toFloats(
            info.type, bytes: rawBytes(info), count: info.elementCount, file: path, field: name)
        return try Tensor(shape: info.shape, data: data)
    }

    // MARK: Metadata

    private func wrongType(_ key: String, _ expected: String, _ v: GGUFValue) -> ModelError {
        .invalidField(file: path, field: key, expected: expected, found: v.typeName)
    }

    /// The string at `key`; nil when absent; throws `invalidField` for another type.
    public func string(_ key: String) throws -> String? {
        guard let v = metadata[key] else { return nil }
        guard case .string(let s) = v else { throw wrongType(key, "string", v) }
        return s
    }

    /// The integer at `key` (any integer type); nil when absent; throws `invalidField` for
    /// another type or a uint64 above `Int.max`.
    public func int(_ key: String) throws -> Int? {
        guard let v = metadata[key] else { return nil }
        guard let i = v.intValue else { throw wrongType(key, "integer", v) }
        return i
    }

    /// The number at `key` (float32, float64 or an integer type) as Double; nil when absent;
    /// throws `invalidField` for another type.
    public func float(_ key: String) throws -> Double? {
        guard let v = metadata[key] else { return nil }
        guard let d = v.doubleValue else { throw wrongType(key, "number", v) }
        return d
    }

    /// The bool at `key`; nil when absent; throws `invalidField` for another type.
    public func bool(_ key: String) throws -> Bool? {
        guard let v = metadata[key] else { return nil }
        guard case .bool(let b) = v else { throw wrongType(key, "bool", v) }
        return b
    }

    private func array(_ key: String, _ expected: String) throws -> [GGUFValue]? {
        guard let v = metadata[key] else { return nil }
        guard case .array(_, let values) = v else { throw wrongType(key, expected, v) }
        return values
    }

    /// The string array at `key`; nil when absent; throws `invalidField` for another type.
    public func stringArray(_ key: String) throws -> [String]? {
        guard let values = try array(key, "array of string") else { return nil }
        return try values.map { v in
            guard case .string(let s) = v else { throw wrongType(key, "array of string", metadata[key]!) }
            return s
        }
    }

    /// The integer array at `key` (any integer element type); nil when absent; throws
    /// `invalidField` for another type.
    public func intArray(_ key: String) throws -> [Int]? {
        guard let values = try array(key, "array of integer") else { return nil }
        return try values.map { v in
            guard let i = v.intValue else { throw wrongType(key, "array of integer", metadata[key]!) }
            return i
        }
    }

    /// The number array at `key` (float or integer elements) as Double; nil when absent;
    /// throws `invalidField` for another type.
    public func floatArray(_ key: String) throws -> [Double]? {
        guard let values = try array(key, "array of number") else { return nil }
        return try values.map { v in
            guard let d = v.doubleValue else { throw wrongType(key, "array of number", metadata[key]!) }
            return d
        }
    }

    /// The number of elements of the array at `key` without converting them; nil when
    /// absent; throws `invalidField` when the value is not an array.
    public func arrayCount(_ key: String) throws -> Int? {
        try array(key, "array")?.count
    }
}

extension String {
    /// "0x…" and the four bytes as ASCII where printable, for magic-number messages.
    init(format32 v: UInt32) {
        let bytes = (0..<4).map { UInt8((v >> (8 * $0)) & 0xFF) }
        let ascii = bytes.map { (32..<127).contains($0) ? Character(UnicodeScalar($0)) : "." }
        self = "0x" + String(v, radix: 16) + " (\"" + String(ascii) + "\")"
    }
}
