import Foundation
import Testing
@testable import SACModel

/// Shared fixtures for the model tests.
enum Fixtures {
    /// `Fixtures/<path>` inside the test bundle.
    static func url(_ path: String) -> URL {
        Bundle.module.resourceURL!.appendingPathComponent("Fixtures").appendingPathComponent(path)
    }

    static func data(_ path: String) throws -> Data { try Data(contentsOf: url(path)) }

    static func float32(_ path: String) throws -> [Float] {
        let d = try data(path)
        return d.withUnsafeBytes { raw in
            (0..<(d.count / 4)).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self))) }
        }
    }

    static func int32(_ path: String) throws -> [Int32] {
        let d = try data(path)
        return d.withUnsafeBytes { raw in
            (0..<(d.count / 4)).map { Int32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: Int32.self)) }
        }
    }

    static func json(_ path: String) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: try data(path)) as! [String: Any]
    }

    /// The shared golden folder beside the checkout (CI has it, a user's clone does not).
    static var sharedGolden: URL? {
        let here = URL(fileURLWithPath: #filePath)
        let root = here.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let dir = root.deletingLastPathComponent().appendingPathComponent("shared/golden")
        return FileManager.default.fileExists(atPath: dir.path) ? dir : nil
    }
}

/// The real default model, loaded once for all tests that need it.
///
/// When the file is absent the tests that need it pass without checking anything, unless
/// `SAC_REQUIRE_MODEL=1` (CI sets it after `make model`), in which case they fail.
enum RealModel {
    static let required = ProcessInfo.processInfo.environment["SAC_REQUIRE_MODEL"] == "1"

    static let loaded: Result<LoadedModel, Error>? = {
        guard let url = try? ModelLoader.resolve(nil), FileManager.default.fileExists(atPath: url.path) else {
            return nil
        }
        return Result { try ModelLoader.load(path: url.path) }
    }()

    /// The model, or nil (after recording a failure when it is required) when it is absent.
    static func get() throws -> LoadedModel? {
        guard let loaded else {
            if required {
                Issue.record("SAC_REQUIRE_MODEL=1 but the default model is missing: run `make model`")
            }
            return nil
        }
        return try loaded.get()
    }
}

/// Largest absolute difference between two equal-length arrays.
func maxAbsDiff(_ a: ArraySlice<Float>, _ b: ArraySlice<Float>) -> Float {
    precondition(a.count == b.count)
    var m: Float = 0
    for (x, y) in zip(a, b) { m = max(m, abs(x - y)) }
    return m
}
