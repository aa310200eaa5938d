import Testing
@testable import SACTensor

/// Linear (+LoRA) forward against a Float64 reference and backward against central finite
/// differences of the Float64 loss L = Σ dy ⊙ y(x, W, A, B).
@Suite struct LinearTests {
    struct Dims { var t: Int, inF: Int, outF: Int, r: Int }

    func makeLayer(_ d: Dims, alpha: Float, rng: inout SplitMix64) throws -> Linear {
        let w = Tensor(randomNormal: [d.outF, d.inF], std: 0.5, using: &rng)
        let a = Tensor(randomNormal: [d.r, d.inF], std: 0.5, using: &rng)
        let b = Tensor(randomNormal: [d.outF, d.r], std: 0.5, using: &rng)  // non-zero on purpose
        return try Linear(weight: w, lora: LoRAAdapter(a: a, b: b, alpha: alpha))
    }

    /// Float64 forward: y = x·Wᵀ + s·(x·Aᵀ)·Bᵀ (LoRA term when `a` is non-nil); also returns
    /// Σ of absolute products per element (for the tolerance).
    static func reference(x: [Double], w: [Double], a: [Double]?, b: [Double]?, s: Double, _ d: Dims)
        -> (y: [Double], mag: [Double]) {
        var y = [Double](repeating: 0, count: d.t * d.outF), mag = y
        var xa = [Double](repeating: 0, count: d.t * d.r), xaMag = xa
        if let a {
            for i in 0..<d.t { for q in 0..<d.r { for p in 0..<d.inF {
                xa[i * d.r + q] += x[i * d.inF + p] * a[q * d.inF + p]
                xaMag[i * d.r + q] += abs(x[i * d.inF + p] * a[q * d.inF + p])
            } } }
        }
        for i in 0..<d.t {
            for o in 0..<d.outF {
                for p in 0..<d.inF {
                    y[i * d.outF + o] += x[i * d.inF + p] * w[o * d.inF + p]
                    mag[i * d.outF + o] += abs(x[i * d.inF + p] * w[o * d.inF + p])
                }
                if let b {
                    for q in 0..<d.r {
                        y[i * d.outF + o] += s * xa[i * d.r + q] * b[o * d.r + q]
                        mag[i * d.outF + o] += abs(s) * xaMag[i * d.r + q] * abs(b[o * d.r + q])
                    }
                }
            }
        }
        return (y, mag)
    }

    static let dimsList = [Dims(t: 3, inF: 13, outF: 7, r: 2), Dims(t: 1, inF: 65, outF: 33, r: 8),
                           Dims(t: 17, inF: 31, outF: 129, r: 3), Dims(t: 2, inF: 5, outF: 1, r: 1)]

    @Test func testForwardMatchesFloat64WithAndWithoutLoRA() throws {
        var rng = SplitMix64(seed: 11)
        for d in Self.dimsList {
            let layer = try makeLayer(d, alpha: 3, rng: &rng)
            let x = Tensor(randomNormal: [d.t, d.inF], using: &rng)
            let x64 = x.data.map(Double.init), w64 = layer.weight.data.map(Double.init)
            let a64 = layer.lora!.a.data.map(Double.init), b64 = layer.lora!.b.data.map(Double.init)
            for useLoRA in [true, false] {
                let (y, cache) = try layer.forward(x, useLoRA: useLoRA)
                #expect(y.shape == [d.t, d.outF])
                #expect((cache.xa == nil) == !useLoRA)
                let ref = Self.reference(x: x64, w: w64, a: useLoRA ? a64 : nil, b: useLoRA ? b64 : nil,
                                         s: 3 / Double(d.r), d)
                for e in 0..<y.count {
                    #expect(abs(Double(y.data[e]) - ref.y[e]) <= 1e-5 * ref.mag[e] + 1e-6, "\(d) lora=\(useLoRA) e=\(e)")
                }
                if let xa = cache.xa {  // saved x·Aᵀ
                    for i in 0..<d.t { for q in 0..<d.r {
                        var s = 0.0, m = 0.0
                        for p in 0..<d.inF { s += x64[i * d.inF + p] * a64[q * d.inF + p]; m += abs(x64[i * d.inF + p] * a64[q * d.inF + p]) }
                        #expect(abs(Double(xa.data[i * d.r + q]) - s) <= 1e-5 * m + 1e-6)
                    } }
                }
            }
        }
    }

    @Test func testLoRAOffEqualsPlainLayerAndLeadingDimsFlatten() throws {
        var rng = SplitMix64(seed: 12)
        let d = Dims(t: 6, inF: 13, outF: 7, r: 2)
        let layer = try makeLayer(d, alpha: 4, rng: &rng)
        let plain = try Linear(weight: layer.weight)
        let x = Tensor(randomNormal: [2, 3, d.inF], using: &rng)
        let (y1, c1) = try layer.forward(x, useLoRA: false)
        let (y2, _) = try plain.forward(x)
        #expect(y1.shape == [2, 3, d.outF])
        #expect(y1 == y2)
        #expect(c1.xa == nil)
        let (y3, _) = try layer.forward(x, useLoRA: true)
        #expect(y1 != y3)
    }

    /// Checks analytic gradients against central differences of the Float64 loss.
    @Test func testBackwardMatchesFiniteDifferences() throws {
        var rng = SplitMix64(seed: 13)
        for d in [Dims(t: 3, inF: 13, outF: 7, r: 2), Dims(t: 5, inF: 7, outF: 11, r: 3)] {
            for useLoRA in [true, false] {
                let layer = try makeLayer(d, alpha: 3, rng: &rng)
                let x = Tensor(randomNormal: [d.t, d.inF], using: &rng)
                let dy = Tensor(randomNormal: [d.t, d.outF], using: &rng)
                let (_, cache) = try layer.forward(x, useLoRA: useLoRA)
                var grads = Linear.Gradients(zerosFor: layer)
                let dx = try layer.backward(dy, cache: cache, gradients: &grads)

                var params = [x.data.map(Double.init), layer.weight.data.map(Double.init),
                              layer.lora!.a.data.map(Double.init), layer.lora!.b.data.map(Double.init)]
                let dy64 = dy.data.map(Double.init)
                let s = 3 / Double(d.r)
                func loss(_ ps: [[Double]]) -> Double {
                    let y = Self.reference(x: ps[0], w: ps[1], a: useLoRA ? ps[2] : nil, b: useLoRA ? ps[3] : nil, s: s, d).y
                    return zip(y, dy64).reduce(0) { $0 + $1.0 * $1.1 }
                }
                let analytic: [[Float]] = [dx.data, grads.weight!.data, grads.loraA!.data, grads.loraB!.data]
                let h = 1e-3
                for (pi, name) in ["dx", "dW", "dA", "dB"].enumerated() {
                    for e in 0..<params[pi].count {
                        let v = params[pi][e]
                        params[pi][e] = v + h; let lp = loss(params)
                        params[pi][e] = v - h; let lm = loss(params)
                        params[pi][e] = v
                        let fd = (lp - lm) / (2 * h)
                        let g = Double(analytic[pi][e])
                        #expect(abs(g - fd) <= 1e-4 * (1 + abs(fd)), "\(d) lora=\(useLoRA) \(name)[\(e)]: \(g) vs \(fd)")
                    }
                }
                if !useLoRA {  // LoRA off: the adapter gets no gradient
                    #expect(grads.loraA!.data.allSatisfy { $0 == 0 } && grads.loraB!.data.allSatisfy { $0 == 0 })
                }
            }
        }
    }

    /// Gradients accumulate (+=) into existing values; a frozen weight is skipped; the
    /// pointer API can accumulate into dx.
    @Test func testAccumulationFrozenWeightAndPointerAPI() throws {
        var rng = SplitMix64(seed: 14)
        let d = Dims(t: 3, inF: 13, outF: 7, r: 2)
        let layer = try makeLayer(d, alpha: 3, rng: &rng)
        let x = Tensor(randomNormal: [d.t, d.inF], using: &rng)
        let dy = Tensor(randomNormal: [d.t, d.outF], using: &rng)
        let (_, cache) = try layer.forward(x)
        var fresh = Linear.Gradients(zerosFor: layer)
        let dx = try layer.backward(dy, cache: cache, gradients: &fresh)

        let g0 = Linear.Gradients(weight: Tensor(randomNormal: layer.weight.shape, using: &rng),
                                  loraA: Tensor(randomNormal: layer.lora!.a.shape, using: &rng),
                                  loraB: Tensor(randomNormal: layer.lora!.b.shape, using: &rng))
        var acc = g0
        _ = try layer.backward(dy, cache: cache, gradients: &acc)
        for (got, start, inc) in [(acc.weight!, g0.weight!, fresh.weight!), (acc.loraA!, g0.loraA!, fresh.loraA!),
                                  (acc.loraB!, g0.loraB!, fresh.loraB!)] {
            for e in 0..<got.count { #expect(abs(got.data[e] - (start.data[e] + inc.data[e])) <= 1e-5) }
        }
        // Frozen base weight: only the adapter gets gradients; dx is unchanged.
        var frozen = Linear.Gradients(zerosFor: layer, weight: false)
        let dx2 = try layer.backward(dy, cache: cache, gradients: &frozen)
        #expect(frozen.weight == nil)
        #expect(dx2 == dx)
        #expect(frozen.loraA == fresh.loraA)

        // Pointer API, accumulateInput: dx = dx0 + gradient.
        var dxAcc = (0..<(d.t * d.inF)).map { _ in Float(rng.nextGaussian()) }
        let dx0 = dxAcc
        layer.weight.data.withUnsafeBufferPointer { w in
            layer.lora!.a.data.withUnsafeBufferPointer { a in
                layer.lora!.b.data.withUnsafeBufferPointer { b in
                    cache.xa!.data.withUnsafeBufferPointer { xa in
                        Linear.backward(dy: dy.data, x: x.data, rows: d.t, inFeatures: d.inF, outFeatures: d.outF,
                                        weight: w.baseAddress!,
                                        lora: LoRAPointers(a: a.baseAddress!, b: b.baseAddress!, rank: d.r, scale: 1.5),
                                        xa: xa.baseAddress!, dx: &dxAcc, accumulateInput: true,
                                        dWeight: nil, loraGrads: nil)
                    }
                }
            }
        }
        for e in 0..<dxAcc.count { #expect(abs(dxAcc[e] - (dx0[e] + dx.data[e])) <= 1e-5) }
    }

    @Test func testShapeErrors() throws {
        var rng = SplitMix64(seed: 15)
        let w = Tensor(randomNormal: [7, 13], using: &rng)
        #expect(throws: TensorError.self) { try Linear(weight: Tensor(zeros: [7])) }
        #expect(throws: TensorError.self) { try LoRAAdapter(a: Tensor(zeros: [2, 13]), b: Tensor(zeros: [7, 3]), alpha: 1) }
        #expect(throws: TensorError.self) { try Linear(weight: w, lora: LoRAAdapter(a: Tensor(zeros: [2, 12]), b: Tensor(zeros: [7, 2]), alpha: 1)) }
        #expect(throws: TensorError.self) { try Linear(weight: w, lora: LoRAAdapter(a: Tensor(zeros: [2, 13]), b: Tensor(zeros: [6, 2]), alpha: 1)) }
        let layer = try Linear(weight: w, lora: LoRAAdapter(a: Tensor(zeros: [2, 13]), b: Tensor(zeros: [7, 2]), alpha: 1))
        #expect(throws: TensorError.self) { try layer.forward(Tensor(zeros: [3, 12])) }
        let (_, cache) = try layer.forward(Tensor(randomNormal: [3, 13], using: &rng))
        var g = Linear.Gradients(zerosFor: layer)
        #expect(throws: TensorError.self) { try layer.backward(Tensor(zeros: [3, 6]), cache: cache, gradients: &g) }
        var bad = Linear.Gradients(weight: Tensor(zeros: [13, 7]))
        #expect(throws: TensorError.self) { try layer.backward(Tensor(zeros: [3, 7]), cache: cache, gradients: &bad) }
        var half = Linear.Gradients(loraA: Tensor(zeros: [2, 13]))
        #expect(throws: TensorError.self) { try layer.backward(Tensor(zeros: [3, 7]), cache: cache, gradients: &half) }
        let plain = try Linear(weight: w)
        #expect(throws: TensorError.self) { try plain.backward(Tensor(zeros: [3, 7]), cache: cache, gradients: &g) }
    }
}
