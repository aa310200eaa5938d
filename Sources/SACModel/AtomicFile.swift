import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writing a file or a directory so that a reader sees the old one or the complete new one,
/// never a part: the new content goes to a temporary name in the same directory, is flushed
/// to disk and renamed over the destination. On any failure the temporary file is removed and
/// the destination is left as it was. Every writer of the project (safetensors, adapters,
/// checkpoints, reports, predictions) goes through here; the memory store keeps its own
/// staging because it records the file's checksum between the write and the rename.
public enum AtomicFile {
    /// Sequential writes into the temporary file of `AtomicFile.write(to:_:)`.
    public struct Writer {
        fileprivate let fd: Int32
        /// The destination, for error messages.
        public let path: String

        /// Appends `bytes`; throws `ModelError.unwritable` when the system refuses.
        public func put(_ bytes: UnsafeRawBufferPointer) throws {
            var done = 0
            while done < bytes.count {
                let r = systemWrite(fd, bytes.baseAddress! + done, bytes.count - done)
                guard r > 0 else { throw ModelError.unwritable(file: path, reason: "write failed: \(String(cString: strerror(errno)))") }
                done += r
            }
        }
    }

    /// Writes what `body` puts through the writer to `path`, atomically.
    ///
    /// - Throws: `ModelError.unwritable` (naming `path`) when the temporary file cannot be
    ///   created, written, flushed or renamed; whatever `body` throws.
    public static func write(to path: String, _ body: (Writer) throws -> Void) throws {
        let url = URL(fileURLWithPath: path)
        let tmp = url.deletingLastPathComponent().path + "/." + url.lastPathComponent
            + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0o644)
        guard fd >= 0 else {
            throw ModelError.unwritable(file: path, reason: "cannot create \(tmp): \(String(cString: strerror(errno)))")
        }
        var ok = false
        defer {
            close(fd)
            if !ok { unlink(tmp) }
        }
        try body(Writer(fd: fd, path: path))
        guard fsync(fd) == 0 else { throw ModelError.unwritable(file: path, reason: "fsync failed: \(String(cString: strerror(errno)))") }
        guard rename(tmp, path) == 0 else {
            throw ModelError.unwritable(file: path, reason: "rename failed: \(String(cString: strerror(errno)))")
        }
        ok = true
    }

    /// Writes `data` to `path`, atomically.
    ///
    /// - Throws: `ModelError.unwritable` naming `path`.
    public static func write(_ data: Data, to path: String) throws {
        try write(to: path) { w in try data.withUnsafeBytes { try w.put($0) } }
    }

    /// Builds a directory at `path` atomically: `build` fills a fresh temporary directory
    /// beside it (its path is the argument), which then replaces `path` (an existing
    /// directory there is moved aside first and removed after). When `build` throws, the
    /// temporary directory is removed and `path` is left as it was.
    public static func replaceDirectory(at path: String, _ build: (String) throws -> Void) throws {
        let fm = FileManager.default
        let url = URL(fileURLWithPath: path)
        let parent = url.deletingLastPathComponent().path
        let name = url.lastPathComponent
        let tag = "\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let tmp = parent + "/." + name + ".tmp-" + tag, old = parent + "/." + name + ".old-" + tag
        do {
            try fm.createDirectory(atPath: tmp, withIntermediateDirectories: true)
        } catch {
            throw ModelError.unwritable(file: path, reason: "cannot create \(tmp): \(error.localizedDescription)")
        }
        do {
            try build(tmp)
        } catch {
            try? fm.removeItem(atPath: tmp)
            throw error
        }
        let replacing = fm.fileExists(atPath: path)
        if replacing {
            guard rename(path, old) == 0 else {
                let reason = String(cString: strerror(errno))
                try? fm.removeItem(atPath: tmp)
                throw ModelError.unwritable(file: path, reason: "cannot move the old directory aside: \(reason)")
            }
        }
        guard rename(tmp, path) == 0 else {
            let reason = String(cString: strerror(errno))
            if replacing { _ = rename(old, path) }
            try? fm.removeItem(atPath: tmp)
            throw ModelError.unwritable(file: path, reason: "rename failed: \(reason)")
        }
        if replacing { try? fm.removeItem(atPath: old) }
    }
}

@inline(__always)
private func systemWrite(_ fd: Int32, _ p: UnsafeRawPointer, _ n: Int) -> Int {
    write(fd, p, n)
}
