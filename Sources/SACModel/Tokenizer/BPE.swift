/// The merge table of a byte-level BPE model and the merge algorithm of Hugging Face tokenizers
/// (`Word::merge_all`): repeatedly merge the adjacent pair of lowest rank, leftmost first.
struct BPEMerges: Sendable {
    /// (left id << 32 | right id) → (rank << 32 | merged id).
    private var table: [UInt64: UInt64]

    init(capacity: Int) { table = Dictionary(minimumCapacity: capacity) }

    var count: Int { table.count }

    /// Adds a merge unless the pair already has one (the first, lowest rank, wins).
    mutating func add(left: Int32, right: Int32, rank: Int, merged: Int32) {
        let key = UInt64(UInt32(left)) << 32 | UInt64(UInt32(right))
        if table[key] == nil { table[key] = UInt64(UInt32(rank)) << 32 | UInt64(UInt32(merged)) }
    }

    /// (rank << 32 | merged id) for the pair, or nil.
    @inline(__always)
    func lookup(_ left: Int32, _ right: Int32) -> UInt64? {
        table[UInt64(UInt32(left)) << 32 | UInt64(UInt32(right))]
    }
}

/// Reusable buffers for merging one word; one per encode call (no allocation per word once grown).
struct BPEScratch {
    var ids: [Int32] = []
    var prev: [Int32] = []
    var next: [Int32] = []
    var alive: [Bool] = []
    /// Min-heap of (rank << 32 | pos) with the merged id alongside.
    var heapKey: [UInt64] = []
    var heapNew: [Int32] = []

    mutating func push(_ key: UInt64, _ newId: Int32) {
        heapKey.append(key); heapNew.append(newId)
        var i = heapKey.count - 1
        while i > 0 {
            let p = (i - 1) >> 1
            if heapKey[p] <= heapKey[i] { break }
            heapKey.swapAt(p, i); heapNew.swapAt(p, i)
            i = p
        }
    }

    mutating func pop() -> (UInt64, Int32) {
        let top = (heapKey[0], heapNew[0])
        let lastKey = heapKey.removeLast(), lastNew = heapNew.removeLast()
        if !heapKey.isEmpty {
            heapKey[0] = lastKey; heapNew[0] = lastNew
            var i = 0
            let n = heapKey.count
            while true {
                let l = 2 * i + 1
                if l >= n { break }
                var m = l
                if l + 1 < n && heapKey[l + 1] < heapKey[l] { m = l + 1 }
                if heapKey[i] <= heapKey[m] { break }
                heapKey.swapAt(i, m); heapNew.swapAt(i, m)
                i = m
            }
        }
        return top
    }

    /// Merges the symbols `symbols` (token ids) with `merges` and appends the result to `out`.
    mutating func merge(_ symbols: ArraySlice<Int32>, _ merges: BPEMerges, into out: inout [Int32]) {
        let n = symbols.count
        if n <= 1 { out.append(contentsOf: symbols); return }
        ids.removeAll(keepingCapacity: true); ids.append(contentsOf: symbols)
        prev.removeAll(keepingCapacity: true); next.removeAll(keepingCapacity: true)
        alive.removeAll(keepingCapacity: true)
        heapKey.removeAll(keepingCapacity: true); heapNew.removeAll(keepingCapacity: true)
        for i in 0..<n {
            prev.append(Int32(i - 1)); next.append(i + 1 < n ? Int32(i + 1) : -1); alive.append(true)
        }
        for i in 0..<(n - 1) {
            if let m = merges.lookup(ids[i], ids[i + 1]) {
                push(m & 0xFFFF_FFFF_0000_0000 | UInt64(i), Int32(truncatingIfNeeded: m))
            }
        }
        while !heapKey.isEmpty {
            let (key, newId) = pop()
            let pos = Int(key & 0xFFFF_FFFF)
            guard alive[pos], next[pos] >= 0 else { continue }
            let r = Int(next[pos])
            guard let m = merges.lookup(ids[pos], ids[r]), Int32(truncatingIfNeeded: m) == newId else { continue }
            ids[pos] = newId
            alive[r] = false
            let rn = next[r]
            next[pos] = rn
            if rn >= 0 { prev[Int(rn)] = Int32(pos) }
            let p = prev[pos]
            if p >= 0, let m2 = merges.lookup(ids[Int(p)], newId) {
                push(m2 & 0xFFFF_FFFF_0000_0000 | UInt64(p), Int32(truncatingIfNeeded: m2))
            }
            if rn >= 0, let m3 = merges.lookup(newId, ids[Int(rn)]) {
                push(m3 & 0xFFFF_FFFF_0000_0000 | UInt64(pos), Int32(truncatingIfNeeded: m3))
            }
        }
        var i = 0
        while i >= 0 && i < n {
            out.append(ids[i])
            i = Int(next[i])
        }
    }
}
