/// The metadata value types of GGUF (`gguf_type`).
public enum GGUFValueType: UInt32, Sendable, CaseIterable {
    case uint8 = 0, int8 = 1, uint16 = 2, int16 = 3, uint32 = 4, int32 = 5, float32 = 6
    case bool = 7, string = 8, array = 9, uint64 = 10, int64 = 11, float64 = 12

    /// The smallest number of bytes one value of this type takes in a file (strings: the
    /// 8-byte length; arrays: the 4-byte element type and the 8-byte count). Used to reject
    /// absurd counts before allocating.
    var minimumEncodedSize: Int {
        switch self {
        case .uint8, .int8, .bool: return 1
        case .uint16, .int16: return 2
        case .uint32, .int32, .float32: return 4
        case .uint64, .int64, .float64, .string: return 8
        case .array: return 12
        }
    }
}

/// One typed GGUF metadata value. Arrays keep their declared element type.
public indirect enum GGUFValue: Sendable, Equatable {
    case uint8(UInt8), int8(Int8), uint16(UInt16), int16(Int16), uint32(UInt32), int32(Int32)
    case uint64(UInt64), int64(Int64), float32(Float), float64(Double), bool(Bool), string(String)
    /// An array whose elements all have type `elementType`.
    case array(elementType: GGUFValueType, values: [GGUFValue])

    /// The value's type tag.
    public var type: GGUFValueType {
        switch self {
        case .uint8: return .uint8
        case .int8: return .int8
        case .uint16: return .uint16
        case .int16: return .int16
        case .uint32: return .uint32
        case .int32: return .int32
        case .uint64: return .uint64
        case .int64: return .int64
        case .float32: return .float32
        case .float64: return .float64
        case .bool: return .bool
        case .string: return .string
        case .array: return .array
        }
    }

    /// The value as an `Int` when it is an integer type that fits, else nil.
    public var intValue: Int? {
        switch self {
        case .uint8(let v): return Int(v)
        case .int8(let v): return Int(v)
        case .uint16(let v): return Int(v)
        case .int16(let v): return Int(v)
        case .uint32(let v): return Int(v)
        case .int32(let v): return Int(v)
        case .uint64(let v): return Int(exactly: v)
        case .int64(let v): return Int(v)
        default: return nil
        }
    }

    /// The value as a `Double` when it is a float or integer type, else nil.
    public var doubleValue: Double? {
        switch self {
        case .float32(let v): return Double(v)
        case .float64(let v): return v
        case .uint64(let v): return Double(v)
        default: return intValue.map(Double.init)
        }
    }

    /// A short description of the type for error messages, e.g. "uint32" or "array of string".
    public var typeName: String {
        if case .array(let t, _) = self { return "array of \(t)" }
        return "\(type)"
    }
}

/// A bounds-checked little-endian reader over a mapped GGUF file. Every read checks the
/// remaining bytes first and throws `ModelError.truncated` naming the field.
struct GGUFCursor {
    let bytes: UnsafeRawBufferPointer
    let file: String
    var pos: Int = 0

    /// Maximum nesting of arrays inside arrays.
    static let maxArrayDepth = 4

    var remaining: Int { bytes.count - pos }

    func need(_ n: Int, _ field: String) throws {
        guard n >= 0, n <= remaining else {
            throw ModelError.truncated(file: file, field: field, needed: n, available: remaining)
        }
    }

    mutating func read<T: FixedWidthInteger>(_: T.Type, _ field: String) throws -> T {
        try need(MemoryLayout<T>.size, field)
        let v = T(littleEndian: bytes.baseAddress!.loadUnaligned(fromByteOffset: pos, as: T.self))
        pos += MemoryLayout<T>.size
        return v
    }

    /// Reads a u64 count and checks that `count * minSize` bytes remain.
    mutating func count(_ field: String, minSize: Int) throws -> Int {
        let raw = try read(UInt64.self, field)
        guard let n = Int(exactly: raw), n <= remaining / max(1, minSize) else {
            throw ModelError.invalidField(
                file: file, field: field, expected: "a count that fits the \(remaining) remaining bytes",
                found: "\(raw)")
        }
        return n
    }

    mutating func string(_ field: String) throws -> String {
        let n = try count(field, minSize: 1)
        let s = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[pos..<pos + n]), as: UTF8.self)
        pos += n
        return s
    }

    mutating func valueType(_ field: String) throws -> GGUFValueType {
        let raw = try read(UInt32.self, field)
        guard let t = GGUFValueType(rawValue: raw) else {
            throw ModelError.unsupported(file: file, field: field, what: "metadata value type \(raw)")
        }
        return t
    }

    mutating func value(_ type: GGUFValueType, _ field: String, depth: Int = 0) throws -> GGUFValue {
        switch type {
        case .uint8: return .uint8(try read(UInt8.self, field))
        case .int8: return .int8(try read(Int8.self, field))
        case .uint16: return .uint16(try read(UInt16.self, field))
        case .int16: return .int16(try read(Int16.self, field))
        case .uint32: return .uint32(try read(UInt32.self, field))
        case .int32: return .int32(try read(Int32.self, field))
        case .uint64: return .uint64(try read(UInt64.self, field))
        case .int64: return .int64(try read(Int64.self, field))
        case .float32: return .float32(Float(bitPattern: try read(UInt32.self, field)))
        case .float64: return .float64(Double(bitPattern: try read(UInt64.self, field)))
        case .bool:
            let b = try read(UInt8.self, field)
            guard b <= 1 else {
                throw ModelError.invalidField(file: file, field: field, expected: "bool 0 or 1", found: "\(b)")
            }
            return .bool(b == 1)
        case .string: return .string(try string(field))
        case .array:
            guard depth < Self.maxArrayDepth else {
                throw ModelError.unsupported(file: file, field: field, what: "arrays nested deeper than \(Self.maxArrayDepth)")
            }
            let et = try valueType(field + "[type]")
            let n = try count(field + "[count]", minSize: et.minimumEncodedSize)
            var values: [GGUFValue] = []
            values.reserveCapacity(n)
            for _ in 0..<n { values.append(try value(et, field, depth: depth + 1)) }
            return .array(elementType: et, values: values)
        }
    }
}
