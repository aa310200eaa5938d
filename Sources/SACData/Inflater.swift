/// A growable byte buffer for decoded output, written through a raw pointer.
struct OutputBuffer: ~Copyable {
    private(set) var base: UnsafeMutablePointer<UInt8>
    private(set) var capacity: Int
    var count = 0

    init(capacity: Int) {
        self.capacity = max(capacity, 1024)
        base = .allocate(capacity: self.capacity)
    }

    deinit { base.deallocate() }

    /// Makes room for at least `extra` more bytes.
    @inline(__always) mutating func reserve(_ extra: Int) {
        if count + extra > capacity { grow(count + extra) }
    }

    private mutating func grow(_ needed: Int) {
        var newCapacity = capacity * 2
        while newCapacity < needed { newCapacity *= 2 }
        let newBase = UnsafeMutablePointer<UInt8>.allocate(capacity: newCapacity)
        newBase.update(from: base, count: count)
        base.deallocate()
        base = newBase
        capacity = newCapacity
    }
}

/// A DEFLATE (RFC 1951) decoder over a byte buffer, reading bits least-significant first.
struct Inflater: ~Copyable {
    let input: UnsafeBufferPointer<UInt8>
    /// Next input byte to load into `bitBuffer`.
    var position: Int
    var bitBuffer: UInt64 = 0
    var bitCount = 0
    var output: OutputBuffer

    init(input: UnsafeBufferPointer<UInt8>, position: Int, outputCapacity: Int) {
        self.input = input
        self.position = position
        output = OutputBuffer(capacity: outputCapacity)
    }

    /// Byte offset of the next unread bit, for error messages.
    var offset: Int { position - (bitCount + 7) / 8 }

    @inline(__always) mutating func refill() {
        while bitCount <= 56 && position < input.count {
            bitBuffer |= UInt64(input[position]) << UInt64(bitCount)
            position += 1
            bitCount += 8
        }
    }

    /// Reads `n` (≤ 32) bits as an unsigned integer.
    @inline(__always) mutating func bits(_ n: Int, _ what: @autoclosure () -> String) throws(GzipError) -> Int {
        if bitCount < n {
            refill()
            if bitCount < n { throw .truncated(offset: input.count, expected: what()) }
        }
        let v = Int(bitBuffer & ((1 << UInt64(n)) - 1))
        bitBuffer >>= UInt64(n)
        bitCount -= n
        return v
    }

    /// Decodes one symbol with `table` (whose entries are passed as a pointer for speed).
    @inline(__always) mutating func symbol(_ entries: UnsafeBufferPointer<UInt32>, bits: Int, _ what: StaticString) throws(GzipError) -> Int {
        if bitCount < bits { refill() }
        let entry = entries[Int(bitBuffer & ((1 << UInt64(bits)) - 1))]
        let length = Int(entry & 15)
        if length == 0 {
            if bitCount < bits { throw .truncated(offset: input.count, expected: "\(what)") }
            throw .invalidCode(offset: offset, reason: "no \(what) code matches")
        }
        if length > bitCount { throw .truncated(offset: input.count, expected: "\(what)") }
        bitBuffer >>= UInt64(length)
        bitCount -= length
        return Int(entry >> 4)
    }

    /// Drops the bits up to the next byte boundary and returns the buffered whole bytes to the input.
    mutating func alignToByte() {
        let drop = bitCount & 7
        bitBuffer >>= UInt64(drop)
        bitCount -= drop
        position -= bitCount / 8
        bitBuffer = 0
        bitCount = 0
    }

    /// Decodes one complete DEFLATE stream starting at `position`, appending to `output`.
    /// On return `position` is the first byte after the stream's final block.
    mutating func inflateStream() throws(GzipError) {
        let start = output.count
        while true {
            let final = try bits(1, "block header")
            let type = try bits(2, "block header")
            switch type {
            case 0: try storedBlock()
            case 1: try huffmanBlock(HuffmanTable.fixedLiteralLength, HuffmanTable.fixedDistance, start: start)
            case 2:
                let (lit, dist) = try dynamicTables()
                try huffmanBlock(lit, dist, start: start)
            default: throw .invalidBlockType(offset: offset)
            }
            if final == 1 { break }
        }
        alignToByte()
    }

    private mutating func storedBlock() throws(GzipError) {
        alignToByte()
        guard position + 4 <= input.count else { throw .truncated(offset: input.count, expected: "stored block LEN/NLEN") }
        let len = Int(input[position]) | Int(input[position + 1]) << 8
        let nlen = Int(input[position + 2]) | Int(input[position + 3]) << 8
        guard len == (~nlen & 0xFFFF) else { throw .storedLengthMismatch(offset: position, length: len, complement: nlen) }
        position += 4
        guard position + len <= input.count else { throw .truncated(offset: input.count, expected: "\(len) stored bytes") }
        output.reserve(len)
        (output.base + output.count).update(from: input.baseAddress! + position, count: len)
        output.count += len
        position += len
    }

    private static let codeLengthOrder = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15]

    private mutating func dynamicTables() throws(GzipError) -> (HuffmanTable, HuffmanTable) {
        let headerOffset = offset
        let hlit = try bits(5, "HLIT") + 257
        let hdist = try bits(5, "HDIST") + 1
        let hclen = try bits(4, "HCLEN") + 4
        guard hlit <= 286, hdist <= 30 else {
            throw .invalidHuffmanTable(offset: headerOffset, reason: "\(hlit) literal/length or \(hdist) distance codes (at most 286 and 30)")
        }
        var clLengths = [UInt8](repeating: 0, count: 19)
        for i in 0..<hclen { clLengths[Self.codeLengthOrder[i]] = UInt8(try bits(3, "code length code lengths")) }
        let clTable: HuffmanTable
        do { clTable = try HuffmanTable(lengths: clLengths, kind: .codeLengths) } catch {
            throw .invalidHuffmanTable(offset: headerOffset, reason: "code length code: \(error.reason)")
        }
        var lengths = [UInt8](repeating: 0, count: hlit + hdist)
        var i = 0
        try clTable.entries.withUnsafeBufferPointer { (entries) throws(GzipError) in
            while i < lengths.count {
                let sym = try symbol(entries, bits: clTable.bits, "code length")
                if sym < 16 {
                    lengths[i] = UInt8(sym)
                    i += 1
                    continue
                }
                var value: UInt8 = 0
                let repeatCount: Int
                switch sym {
                case 16:
                    guard i > 0 else { throw .invalidHuffmanTable(offset: offset, reason: "repeat code 16 with no previous length") }
                    value = lengths[i - 1]
                    repeatCount = 3 + (try bits(2, "repeat count"))
                case 17: repeatCount = 3 + (try bits(3, "repeat count"))
                default: repeatCount = 11 + (try bits(7, "repeat count"))
                }
                guard i + repeatCount <= lengths.count else {
                    throw .invalidHuffmanTable(offset: offset, reason: "code length repeat runs past \(lengths.count) lengths")
                }
                for k in i..<(i + repeatCount) { lengths[k] = value }
                i += repeatCount
            }
        }
        guard lengths[256] != 0 else { throw .invalidHuffmanTable(offset: headerOffset, reason: "no code for end-of-block (256)") }
        do {
            let lit = try HuffmanTable(lengths: Array(lengths[0..<hlit]), kind: .literalLength)
            let dist = try HuffmanTable(lengths: Array(lengths[hlit...]), kind: .distance)
            return (lit, dist)
        } catch {
            throw .invalidHuffmanTable(offset: headerOffset, reason: error.reason)
        }
    }

    private static let lengthBase: [Int] = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258]
    private static let lengthExtra: [Int] = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0]
    private static let distanceBase: [Int] = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577]
    private static let distanceExtra: [Int] = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13]

    private mutating func huffmanBlock(_ lit: HuffmanTable, _ dist: HuffmanTable, start: Int) throws(GzipError) {
        let litBits = lit.bits, distBits = dist.bits
        let lb = Self.lengthBase, le = Self.lengthExtra, db = Self.distanceBase, de = Self.distanceExtra
        try lit.entries.withUnsafeBufferPointer { (litEntries) throws(GzipError) in
            try dist.entries.withUnsafeBufferPointer { (distEntries) throws(GzipError) in
                while true {
                    let sym = try symbol(litEntries, bits: litBits, "literal/length")
                    if sym < 256 {
                        output.reserve(1)
                        output.base[output.count] = UInt8(truncatingIfNeeded: sym)
                        output.count += 1
                        continue
                    }
                    if sym == 256 { return }
                    let li = sym - 257
                    guard li < 29 else { throw .invalidCode(offset: offset, reason: "literal/length symbol \(sym) is unused") }
                    let length = lb[li] + (le[li] == 0 ? 0 : try bits(le[li], "length extra bits"))
                    let ds = try symbol(distEntries, bits: distBits, "distance")
                    guard ds < 30 else { throw .invalidCode(offset: offset, reason: "distance symbol \(ds) is unused") }
                    let distance = db[ds] + (de[ds] == 0 ? 0 : try bits(de[ds], "distance extra bits"))
                    let available = output.count - start
                    guard distance <= available else {
                        throw .invalidDistance(offset: offset, distance: distance, available: available)
                    }
                    output.reserve(length)
                    let dst = output.base + output.count
                    let src = dst - distance
                    if distance >= length {
                        dst.update(from: src, count: length)
                    } else {
                        for k in 0..<length { dst[k] = src[k] }
                    }
                    output.count += length
                }
            }
        }
    }
}
