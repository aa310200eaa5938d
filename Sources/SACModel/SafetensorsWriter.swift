import Foundation
import SACTensor

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes Float32 tensors as a safetensors file, atomically: the bytes go to a temporary
/// file in the destination's directory, are flushed to disk, and the file is renamed over
/// `path`, so a reader never sees a half-written file.
public enum SafetensorsWriter {
    /// Writes `tensors` (name → Float32 tensor) and the optional `__metadata__` strings to
    /// `path`, little-endian, stored as `dtype`: F32 (exact), or F16 / BF16 (each value rounded
    /// to the nearest representable one, ties to even; half the size). Data are laid out
    /// contiguously in name order; the header is padded with spaces to a multiple of 8 bytes.
    /// Throws `ModelError.invalidField` for an empty or reserved name, or for a finite value
    /// that the 16-bit dtype cannot hold (F16 overflows above 65504), `ModelError.unsupported`
    /// for another dtype, and `ModelError.unwritable` when the file cannot be written (`AtomicFile`).
    /// `dtypes` overrides `dtype` for the tensors it names (e.g. positions kept in F32 beside F16 data).
    public static func write(
        _ tensors: [String: Tensor], metadata: [String: String]? = nil, dtype: SafetensorsDType = .F32,
        dtypes: [String: SafetensorsDType] = [:], to path: String
    ) throws {
        for t in [dtype] + Array(dtypes.values) where !(t == .F32 || t == .F16 || t == .BF16) {
            throw ModelError.unsupported(file: path, field: "dtype", what: "writing \(t) (expected F32, F16 or BF16)")
        }
        func type(_ name: String) -> SafetensorsDType { dtypes[name] ?? dtype }
        let names = tensors.keys.sorted()
        var header: [String: Any] = [:]
        var offset = 0
        for name in names {
            guard !name.isEmpty, name != "__metadata__" else {
                throw ModelError.invalidField(file: path, field: "tensor name", expected: "a non-empty, non-reserved name", found: "\"\(name)\"")
            }
            let t = tensors[name]!
            let n = type(name).size * t.count
            header[name] = ["dtype": type(name).rawValue, "shape": t.shape, "data_offsets": [offset, offset + n]] as [String: Any]
            offset += n
        }
        if let metadata { header["__metadata__"] = metadata }
        var json: Data
        do {
            json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys, .withoutEscapingSlashes])
        } catch {
            throw ModelError.invalidField(file: path, field: "header", expected: "JSON-encodable metadata", found: "\(error)")
        }
        while json.count % 8 != 0 { json.append(0x20) }
        // The 16-bit payloads, converted before anything is written.
        var half: [String: [UInt16]] = [:]
        for name in names where type(name) != .F32 {
            let dtype = type(name)
            do {
                let data = tensors[name]!.data
                var bits = [UInt16](repeating: 0, count: data.count)
                for (i, x) in data.enumerated() {
                    let b = dtype == .F16 ? Float16(x).bitPattern : HalfConversion.bf16Bits(x)
                    let back = dtype == .F16 ? HalfConversion.f16(b) : HalfConversion.bf16(b)
                    guard back.isFinite || !x.isFinite else {
                        throw ModelError.invalidField(
                            file: path, field: name, expected: "values that \(dtype) can hold", found: "\(x) at index \(i)")
                    }
                    bits[i] = b.littleEndian
                }
                half[name] = bits
            }
        }

        try AtomicFile.write(to: path) { w in
            var len = UInt64(json.count).littleEndian
            try withUnsafeBytes(of: &len) { try w.put($0) }
            try json.withUnsafeBytes { try w.put($0) }
            for name in names {
                let t = tensors[name]!
                if let bits = half[name] {
                    try bits.withUnsafeBytes { try w.put($0) }
                } else if t.count > 0 {
                    #if _endian(big)
                    let le = t.data.map { $0.bitPattern.littleEndian }
                    try le.withUnsafeBytes { try w.put($0) }
                    #else
                    try t.data.withUnsafeBytes { try w.put($0) }
                    #endif
                }
            }
        }
    }
}

extension SafetensorsDType {
    /// The Float32 value `x` becomes when stored as this dtype and read back: `x` itself for
    /// F32, the nearest value (ties to even; infinite beyond the range) for F16 and BF16, NaN
    /// for the dtypes the writer does not produce.
    public func rounded(_ x: Float) -> Float {
        switch self {
        case .F32: x
        case .F16: Float(Float16(x))
        case .BF16: HalfConversion.bf16(HalfConversion.bf16Bits(x))
        default: .nan
        }
    }
}
