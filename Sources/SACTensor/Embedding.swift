/// Token embedding: a gather of rows from a `[vocabSize × dim]` table, and its backward
/// scatter-add.
public enum Embedding {
    /// `out[t, :] = table[ids[t], :]` for `t < count`.
    ///
    /// - Parameters:
    ///   - table: `[vocabSize × dim]` row-major embedding table.
    ///   - ids: `count` token ids.
    ///   - out: `[count × dim]` output (must not overlap `table`).
    /// - Precondition: every id lies in `0..<vocabSize`; sizes are non-negative.
    public static func forward(
        table: UnsafePointer<Float>, vocabSize: Int, dim: Int,
        ids: UnsafePointer<Int32>, count: Int, out: UnsafeMutablePointer<Float>
    ) {
        precondition(vocabSize >= 0 && dim >= 0 && count >= 0, "Embedding.forward: negative size")
        for t in 0..<count {
            precondition(ids[t] >= 0 && Int(ids[t]) < vocabSize,
                         "Embedding.forward: id \(ids[t]) at \(t) outside 0..<\(vocabSize)")
        }
        if dim == 0 { return }
        let ts = UncheckedSendable(table), iss = UncheckedSendable(ids), os = UncheckedSendable(out)
        Parallel.forRanges(count, grain: max(1, (1 << 16) / dim)) { range in
            for t in range {
                (os.value + t * dim).update(from: ts.value + Int(iss.value[t]) * dim, count: dim)
            }
        }
    }

    /// Backward of the gather: `dTable[ids[t], :] += dOut[t, :]` for `t < count` (repeated ids
    /// accumulate; rows never named are left unchanged).
    ///
    /// - Parameters:
    ///   - dOut: `[count × dim]` gradient of the loss with respect to the gathered rows.
    ///   - dTable: `[vocabSize × dim]` gradient of the table, accumulated into.
    /// - Precondition: every id lies in `0..<vocabSize`.
    public static func backward(
        dOut: UnsafePointer<Float>, ids: UnsafePointer<Int32>, count: Int,
        dim: Int, vocabSize: Int, dTable: UnsafeMutablePointer<Float>
    ) {
        precondition(vocabSize >= 0 && dim >= 0 && count >= 0, "Embedding.backward: negative size")
        for t in 0..<count {
            precondition(ids[t] >= 0 && Int(ids[t]) < vocabSize,
                         "Embedding.backward: id \(ids[t]) at \(t) outside 0..<\(vocabSize)")
        }
        if dim == 0 || count == 0 { return }
        // Threads own disjoint column ranges, so repeated ids never race.
        let gs = UncheckedSendable(dOut), iss = UncheckedSendable(ids), ds = UncheckedSendable(dTable)
        let grain = count * dim < 1 << 15 ? dim : 64
        Parallel.forRanges(dim, grain: grain) { cols in
            for t in 0..<count {
                Residual.addSerial(ds.value + Int(iss.value[t]) * dim + cols.lowerBound,
                                   gs.value + t * dim + cols.lowerBound, cols.count)
            }
        }
    }
}

extension Embedding {
    /// Gathers the rows of `table` (`[V × d]`) named by `ids`; returns `[ids.count × d]`.
    /// Throws `TensorError.shapeMismatch` unless `table` has rank 2, and
    /// `TensorError.invalidArgument` for an id outside `0..<V`.
    public static func forward(table: Tensor, ids: [Int32]) throws -> Tensor {
        let (v, d) = try checked(table, "table", ids: ids, op: "Embedding.forward")
        var out = Tensor(zeros: [ids.count, d])
        table.data.withUnsafeBufferPointer { tb in
            ids.withUnsafeBufferPointer { ib in
                out.data.withUnsafeMutableBufferPointer { ob in
                    guard let tp = tb.baseAddress, let ip = ib.baseAddress, let op = ob.baseAddress else { return }
                    forward(table: tp, vocabSize: v, dim: d, ids: ip, count: ids.count, out: op)
                }
            }
        }
        return out
    }

    /// Adds the gradient `dOut` (`[ids.count × d]`) into the rows of `dTable` (`[V × d]`)
    /// named by `ids`. Throws on shape mismatch or an id outside `0..<V`.
    public static func backward(dOut: Tensor, ids: [Int32], dTable: inout Tensor) throws {
        let (v, d) = try checked(dTable, "dTable", ids: ids, op: "Embedding.backward")
        try dOut.expectShape([ids.count, d], "dOut", op: "Embedding.backward")
        dOut.data.withUnsafeBufferPointer { gb in
            ids.withUnsafeBufferPointer { ib in
                dTable.data.withUnsafeMutableBufferPointer { db in
                    guard let gp = gb.baseAddress, let ip = ib.baseAddress, let dp = db.baseAddress else { return }
                    backward(dOut: gp, ids: ip, count: ids.count, dim: d, vocabSize: v, dTable: dp)
                }
            }
        }
    }

    private static func checked(_ table: Tensor, _ name: String, ids: [Int32], op: String) throws -> (Int, Int) {
        guard table.rank == 2 else {
            throw TensorError.shapeMismatch(op: op, detail: "\(name) has shape \(table.shape), expected [vocab, dim]")
        }
        let v = table.shape[0]
        if let t = ids.firstIndex(where: { $0 < 0 || Int($0) >= v }) {
            throw TensorError.invalidArgument(op: op, detail: "token id \(ids[t]) at position \(t) is outside 0..<\(v)")
        }
        return (v, table.shape[1])
    }
}
