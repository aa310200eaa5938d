import Foundation
import Testing
@testable import SACData

@Suite struct GzipTests {
    /// Each fixture decompresses to exactly the bytes Python's gzip wrote into it.
    @Test(arguments: [
        ("random.bin.gz", "random.bin"), ("text.l0.gz", "text.txt"), ("text.l1.gz", "text.txt"),
        ("text.l9.gz", "text.txt"), ("text.fixed.gz", "text.txt"), ("runs.bin.gz", "runs.bin"),
        ("multi.gz", "multi.bin"), ("headers.gz", "headers.bin"),
    ])
    func matchesPython(_ gz: String, _ raw: String) throws {
        let out = try Gzip.decompress(try Fixtures.data("gzip/" + gz))
        let expected = try Fixtures.data("gzip/" + raw)
        #expect(out.count == expected.count)
        #expect(out == expected)
    }

    @Test func emptyMember() throws {
        let out = try Gzip.decompress(try Fixtures.data("gzip/empty.gz"))
        #expect(out.isEmpty)
    }

    @Test func zeroPaddingAfterLastMemberIsIgnored() throws {
        var gz = try Fixtures.data("gzip/multi.gz")
        gz.append(contentsOf: [0, 0, 0, 0])
        #expect(try Gzip.decompress(gz) == (try Fixtures.data("gzip/multi.bin")))
    }

    @Test func crc32MatchesKnownValues() {
        #expect(CRC32.checksum(Array("123456789".utf8)) == 0xCBF4_3926)
        #expect(CRC32.checksum([UInt8]()) == 0)
        #expect(CRC32.checksum(Array("The quick brown fox jumps over the lazy dog".utf8)) == 0x414F_A339)
    }

    @Test func emptyInputIsTruncated() {
        #expect(throws: GzipError.truncated(offset: 0, expected: "gzip header (10 bytes)")) { try Gzip.decompress(Data()) }
    }

    @Test func badHeaderFieldsThrow() throws {
        let good = try Fixtures.data("gzip/text.l9.gz")
        var magic = good; magic[1] = 0x8C
        #expect(throws: GzipError.badMagic(offset: 0)) { try Gzip.decompress(magic) }
        var method = good; method[2] = 7
        #expect(throws: GzipError.unsupportedMethod(offset: 2, method: 7)) { try Gzip.decompress(method) }
        var flags = good; flags[3] = 0x20
        #expect(throws: GzipError.reservedFlags(offset: 3, flags: 0x20)) { try Gzip.decompress(flags) }
        var headers = try Fixtures.data("gzip/headers.gz")
        headers[20] ^= 0x01  // inside the file name, covered by the header CRC16
        do { _ = try Gzip.decompress(headers); Issue.record("bad header CRC accepted") } catch {
            guard case .badHeaderCRC = error else { Issue.record("expected badHeaderCRC, got \(error)"); return }
        }
    }

    @Test func trailerMismatchesThrow() throws {
        let good = try Fixtures.data("gzip/text.l9.gz")
        var crc = good; crc[crc.count - 8] ^= 0xFF
        do { _ = try Gzip.decompress(crc); Issue.record("bad CRC accepted") } catch {
            guard case let .badCRC(member, _, _) = error else { Issue.record("expected badCRC, got \(error)"); return }
            #expect(member == 1)
        }
        var size = good; size[size.count - 1] ^= 0x01
        do { _ = try Gzip.decompress(size); Issue.record("bad ISIZE accepted") } catch {
            guard case .badSize = error else { Issue.record("expected badSize, got \(error)"); return }
        }
        // A corrupt second member is reported as member 2.
        var multi = try Fixtures.data("gzip/multi.gz")
        let secondTrailerEnd = multi.count - 20  // the last member (empty) is 20 bytes
        multi[secondTrailerEnd - 8] ^= 0x10
        do { _ = try Gzip.decompress(multi); Issue.record("bad CRC in member 2 accepted") } catch {
            guard case let .badCRC(member, _, _) = error else { Issue.record("expected badCRC, got \(error)"); return }
            #expect(member == 2)
        }
    }

    @Test func garbageAfterLastMemberThrows() throws {
        var gz = try Fixtures.data("gzip/text.l1.gz")
        let end = gz.count
        gz.append(contentsOf: [0x41, 0x42])
        #expect(throws: GzipError.truncated(offset: end + 2, expected: "gzip header (10 bytes)")) { try Gzip.decompress(gz) }
        gz.append(contentsOf: Array(repeating: 0x41, count: 10))
        #expect(throws: GzipError.badMagic(offset: end)) { try Gzip.decompress(gz) }
    }

    /// Every proper prefix of a valid file throws (never crashes, never returns partial output).
    @Test(arguments: ["text.l9.gz", "text.l0.gz", "text.fixed.gz", "headers.gz", "runs.bin.gz"])
    func everyTruncationThrows(_ name: String) throws {
        let good = try Fixtures.data("gzip/" + name)
        let cuts = Set((0..<min(good.count, 300)).map { $0 } + stride(from: 300, to: good.count, by: 97).map { $0 } + [good.count - 1])
        for n in cuts.sorted() {
            let prefix = good.prefix(n)
            // Cutting mid-stream may also surface as an invalid code; any typed error will do.
            #expect(throws: GzipError.self, "\(name) cut to \(n) of \(good.count) bytes") { try Gzip.decompress(Data(prefix)) }
        }
    }

    @Test func reservedBlockTypeThrows() {
        var w = BitWriter()
        w.bits(1, 1); w.bits(3, 2)
        Self.expectInvalidDeflate(BitWriter.member(w.bytes, crc: 0, size: 0), "invalid block type")
    }

    @Test func storedLengthMismatchThrows() {
        let deflate: [UInt8] = [0x01, 0x05, 0x00, 0x00, 0x00]  // final stored block, LEN 5, NLEN 0
        Self.expectInvalidDeflate(BitWriter.member(deflate, crc: 0, size: 0), "invalid stored block lengths")
    }

    @Test func distanceBeforeStartThrows() {
        // Fixed block: literal 'A' (code 0x30+0x41, 8 bits), then length 3 (symbol 257 = 7-bit 0000001)
        // at distance 2 (distance code 1, 5 bits), which reaches before the single decoded byte.
        var w = BitWriter()
        w.bits(1, 1); w.bits(1, 2)
        w.code(0x30 + 0x41, 8)
        w.code(1, 7)
        w.code(1, 5)
        w.code(0, 7)
        Self.expectInvalidDeflate(BitWriter.member(w.bytes, crc: 0, size: 0), "invalid distance too far back")
    }

    @Test func unusedFixedSymbolsThrow() {
        // Literal/length symbol 286 (8-bit code 11000110) and distance symbol 30 (5-bit 11110).
        var w = BitWriter()
        w.bits(1, 1); w.bits(1, 2)
        w.code(0b1100_0110, 8)
        Self.expectInvalidDeflate(BitWriter.member(w.bytes, crc: 0, size: 0), "invalid literal/length code")
        var d = BitWriter()
        d.bits(1, 1); d.bits(1, 2)
        d.code(0x30 + 0x41, 8)
        d.code(1, 7)
        d.code(30, 5)
        Self.expectInvalidDeflate(BitWriter.member(d.bytes, crc: 0, size: 0), "invalid distance code")
    }

    @Test func overSubscribedDynamicTableThrows() {
        // HLIT 257, HDIST 1, HCLEN 4 (lengths for 16, 17, 18, 0): all four of length 1 is over-subscribed.
        var w = BitWriter()
        w.bits(1, 1); w.bits(2, 2)
        w.bits(0, 5); w.bits(0, 5); w.bits(0, 4)
        for _ in 0..<4 { w.bits(1, 3) }
        Self.expectInvalidDeflate(BitWriter.member(w.bytes, crc: 0, size: 0), "invalid code lengths set")
    }

    /// Decoding `gz` fails with `invalidDeflate` whose reason is zlib's `reason`, at an offset
    /// inside the member.
    static func expectInvalidDeflate(_ gz: Data, _ reason: String, sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            _ = try Gzip.decompress(gz)
            Issue.record("accepted a corrupt stream", sourceLocation: sourceLocation)
        } catch {
            guard case let .invalidDeflate(offset, r) = error else {
                Issue.record("expected invalidDeflate(\(reason)), got \(error)", sourceLocation: sourceLocation); return
            }
            #expect(r == reason, sourceLocation: sourceLocation)
            #expect(offset >= 10 && offset <= gz.count, sourceLocation: sourceLocation)
            #expect(error.description.contains(reason), sourceLocation: sourceLocation)
        }
    }

    /// Random byte flips either throw or (when they hit a field outside the data, such as
    /// MTIME) decode to the original bytes; they never crash.
    @Test func randomCorruptionThrowsOrIsHarmless() throws {
        let good = try Fixtures.data("gzip/text.l9.gz")
        let expected = try Fixtures.data("gzip/text.txt")
        var rng = SystemRandomNumberGenerator()
        var threw = 0
        for _ in 0..<300 {
            var bad = good
            for _ in 0..<Int.random(in: 1...3, using: &rng) {
                bad[Int.random(in: 0..<bad.count, using: &rng)] ^= UInt8.random(in: 1...255, using: &rng)
            }
            do {
                let out = try Gzip.decompress(bad)
                #expect(out == expected)
            } catch {
                threw += 1
                #expect(!error.description.isEmpty)
            }
        }
        #expect(threw > 250)
    }

    /// The real SQuAD-dev file (when ../shared is present): 301 lines, header included.
    @Test func realSQuADDev() throws {
        guard let dir = Fixtures.sharedData else { return }
        let gz = try Data(contentsOf: dir.appendingPathComponent("mrqa/SQuAD-dev.jsonl.gz"))
        let text = try Gzip.decompress(gz)
        let lines = text.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: true)
        #expect(lines.count == 301)
    }

    /// Decompresses SQuAD-train (~3 MB of gzip) and prints the time; it must be well under a second
    /// in release (the bound here is loose for a loaded machine).
    @Test func realSQuADTrainSpeed() throws {
        guard let dir = Fixtures.sharedData else { return }
        let gz = try Data(contentsOf: dir.appendingPathComponent("mrqa/SQuAD-train.jsonl.gz"))
        let clock = ContinuousClock()
        var best = Duration.seconds(100)
        var size = 0
        for _ in 0..<3 {
            let t0 = clock.now
            size = try Gzip.decompress(gz).count
            best = min(best, clock.now - t0)
        }
        print("Gzip.decompress SQuAD-train.jsonl.gz: \(gz.count) -> \(size) bytes, best of 3: \(best)")
        #expect(size > gz.count)
        #expect(best < .seconds(2))
    }
}
