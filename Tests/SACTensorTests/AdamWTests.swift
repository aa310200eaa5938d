import Foundation
import Testing

@testable import SACTensor

/// AdamW against torch.optim.AdamW (values from scripts/ref_optim.py), against a Float64
/// reference on a large (threaded) tensor, and state save/restore.
///
/// Tolerance for parameters and moments: |swift − ref| <= 1e-7 + 1e-6·|ref| elementwise.
@Suite struct AdamWTests {
    /// The three reference parameters with their initial values (names p0, p1, p2).
    func makeParams() throws -> [Parameter] {
        try (0..<3).map { i in
            Parameter(name: "p\(i)", value: try Tensor(shape: OptimReference.shapes[i], data: OptimReference.initial[i]))
        }
    }

    /// Groups as in the script: p0 and p2 with weight decay 0.1, p1 without.
    func makeOptimizer(_ ps: [Parameter]) throws -> AdamW {
        try AdamW(
            groups: [.init(params: [ps[0], ps[2]], weightDecay: 0.1), .init(params: [ps[1]], weightDecay: 0)],
            lr: OptimReference.lr, betas: OptimReference.betas)
    }

    func setGrads(_ ps: [Parameter], step t: Int, scale: Float = 1) throws {
        for (i, p) in ps.enumerated() {
            p.zeroGrad()
            let g = OptimReference.grads[t][i].map { $0 * scale }
            try p.accumulateGrad(Tensor(shape: p.shape, data: g))
        }
    }

    func flat(_ ps: [Parameter]) -> [Float] { ps.flatMap { $0.value.data } }

    func assertClose(_ a: [Float], _ b: [Float], rel: Float = 1e-6, abs: Float = 1e-7, _ what: String,
                     sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(a.count == b.count, "\(what)", sourceLocation: sourceLocation)
        for i in 0..<min(a.count, b.count) where !(Swift.abs(a[i] - b[i]) <= abs + rel * Swift.abs(b[i])) {
            Issue.record("\(what)[\(i)]: \(a[i]) vs \(b[i])", sourceLocation: sourceLocation)
            return
        }
    }

    @Test func plainRunMatchesTorch() throws {
        let ps = try makeParams()
        let opt = try makeOptimizer(ps)
        for t in 0..<OptimReference.grads.count {
            try setGrads(ps, step: t)
            opt.step()
            assertClose(flat(ps), OptimReference.plainAfter[t], "params after step \(t + 1)")
        }
        let st = opt.state()
        let m = (0..<3).flatMap { st.entries["p\($0)"]!.m }
        let v = (0..<3).flatMap { st.entries["p\($0)"]!.v }
        assertClose(m, OptimReference.plainExpAvg, "exp_avg")
        assertClose(v, OptimReference.plainExpAvgSq, "exp_avg_sq")
        for i in 0..<3 { #expect(opt.stepCount(of: "p\(i)") == 6) }
    }

    /// Warmup + linear decay schedule (first update at lr 0) and clip_grad_norm_(1.0) every step.
    @Test func clippedScheduledRunMatchesTorch() throws {
        let ps = try makeParams()
        let opt = try makeOptimizer(ps)
        let schedule = LRSchedule.linear(lr: OptimReference.lr, warmupSteps: 2, totalSteps: 6)
        for t in 0..<OptimReference.grads.count {
            try setGrads(ps, step: t, scale: OptimReference.gradScales[t])
            let norm = try clipGradNorm(ps, maxNorm: 1)
            #expect(abs(norm - OptimReference.clippedNorms[t]) <= 1e-6 * OptimReference.clippedNorms[t], "norm \(t)")
            opt.lr = schedule.lr(atStep: t)
            #expect(opt.lr == Float(OptimReference.clippedLRs[t]), "lr \(t)")
            opt.step()
            assertClose(flat(ps), OptimReference.clippedAfter[t], "params after step \(t + 1)")
        }
    }

    /// Save after 3 steps, encode/decode the state (JSON), restore into a fresh optimiser over
    /// copies of the parameters, and continue: both runs must agree bit for bit, and with torch.
    @Test func stateRoundTripContinuesIdentically() throws {
        let a = try makeParams()
        let optA = try makeOptimizer(a)
        for t in 0..<3 { try setGrads(a, step: t); optA.step() }
        let saved = try JSONEncoder().encode(optA.state())
        let b = try a.map { p in Parameter(name: p.name, value: try Tensor(shape: p.shape, data: p.value.data)) }
        let optB = try makeOptimizer(b)
        try optB.restore(try JSONDecoder().decode(AdamW.State.self, from: saved))
        #expect(optB.state() == optA.state())
        for t in 3..<6 {
            try setGrads(a, step: t); optA.step()
            try setGrads(b, step: t); optB.step()
            #expect(flat(a) == flat(b), "step \(t + 1)")
            assertClose(flat(b), OptimReference.plainAfter[t], "restored run, step \(t + 1)")
        }
    }

    /// The threaded path (tensor above `parallelThreshold`, awkward size) against a Float64
    /// AdamW written here; also a tiny tensor (1 element) in the same group.
    /// Tolerance: |swift − ref| <= 1e-7 + 1e-6·|ref|.
    @Test func largeTensorMatchesFloat64Reference() throws {
        var rng = SplitMix64(seed: 7)
        let n = AdamW.parallelThreshold * 3 + 11
        let big = Parameter(name: "big", value: Tensor(randomNormal: [n], using: &rng))
        let tiny = Parameter(name: "tiny", value: Tensor(randomNormal: [1], using: &rng))
        let (lr, b1, b2, eps, wd) = (Float(3e-3), Float(0.85), Float(0.97), Float(1e-6), Float(0.05))
        let opt = try AdamW(parameters: [big, tiny], lr: lr, betas: (b1, b2), eps: eps, weightDecay: wd)
        var refP = [big, tiny].map { $0.value.data.map(Double.init) }
        var refM = refP.map { [Double](repeating: 0, count: $0.count) }
        var refV = refM
        for t in 1...4 {
            for (k, p) in [big, tiny].enumerated() {
                p.zeroGrad()
                let g = Tensor(randomNormal: p.shape, std: 0.1, using: &rng)
                try p.accumulateGrad(g)
                let (B1, B2) = (Double(b1), Double(b2))
                for i in 0..<g.count {
                    let gi = Double(g.data[i])
                    refP[k][i] *= 1 - Double(lr) * Double(wd)
                    refM[k][i] = B1 * refM[k][i] + (1 - B1) * gi
                    refV[k][i] = B2 * refV[k][i] + (1 - B2) * gi * gi
                    let denom = refV[k][i].squareRoot() / (1 - pow(B2, Double(t))).squareRoot() + Double(eps)
                    refP[k][i] -= Double(lr) / (1 - pow(B1, Double(t))) * refM[k][i] / denom
                }
            }
            opt.step()
            for (k, p) in [big, tiny].enumerated() {
                assertClose(p.value.data, refP[k].map { Float($0) }, "\(p.name) step \(t)")
            }
        }
    }

    @Test func frozenParameterIsSkippedAndHasNoState() throws {
        var rng = SplitMix64(seed: 3)
        let live = Parameter(name: "live", value: Tensor(randomNormal: [5], using: &rng))
        let frozen = Parameter(name: "frozen", value: Tensor(randomNormal: [3], using: &rng), requiresGrad: false)
        let before = frozen.value
        let opt = try AdamW(parameters: [live, frozen], lr: 1e-2)
        try frozen.accumulateGrad(Tensor(randomNormal: [3], using: &rng))
        try live.accumulateGrad(Tensor(randomNormal: [5], using: &rng))
        let liveBefore = live.value
        opt.step()
        #expect(frozen.value == before)
        #expect(live.value != liveBefore)
        #expect(Array(opt.state().entries.keys) == ["live"])
        opt.zeroGrad()
        #expect(live.grad.data.allSatisfy { $0 == 0 })
        #expect(frozen.grad.data.allSatisfy { $0 == 0 })
    }

    @Test func restoreRejectsWrongNameShapeAndMissingEntry() throws {
        let ps = try makeParams()
        let opt = try makeOptimizer(ps)
        try setGrads(ps, step: 0)
        opt.step()
        let good = opt.state()

        func expectThrow(_ s: AdamW.State, mentioning name: String, sourceLocation: SourceLocation = #_sourceLocation) {
            if let error = #expect(throws: (any Error).self, sourceLocation: sourceLocation, performing: { try opt.restore(s) }) {
                #expect("\(error)".contains(name), "\(error)", sourceLocation: sourceLocation)
            }
            #expect(opt.state() == good, "state must be unchanged after a failed restore", sourceLocation: sourceLocation)
        }
        var renamed = good
        renamed.entries["q9"] = renamed.entries["p1"]
        expectThrow(renamed, mentioning: "q9")

        var missing = good
        missing.entries["p1"] = nil
        expectThrow(missing, mentioning: "p1")

        var shape = good
        shape.entries["p1"]!.shape = [5, 3]
        expectThrow(shape, mentioning: "p1")

        var short = good
        short.entries["p0"]!.v.removeLast()
        expectThrow(short, mentioning: "p0")

        var negative = good
        negative.entries["p2"]!.step = -1
        expectThrow(negative, mentioning: "p2")

        #expect(throws: Never.self) { try opt.restore(good) }
    }

    @Test func initRejectsBadArguments() throws {
        let p = Parameter(name: "a", value: Tensor(zeros: [2]))
        let q = Parameter(name: "a", value: Tensor(zeros: [3]))
        #expect(throws: (any Error).self) { try AdamW(parameters: [p, q], lr: 1e-3) }
        #expect(throws: (any Error).self) { try AdamW(parameters: [p], lr: -1) }
        #expect(throws: (any Error).self) { try AdamW(parameters: [p], lr: 1e-3, betas: (1, 0.9)) }
        #expect(throws: (any Error).self) { try AdamW(parameters: [p], lr: 1e-3, betas: (0.9, -0.1)) }
        #expect(throws: (any Error).self) { try AdamW(parameters: [p], lr: 1e-3, eps: .nan) }
        #expect(throws: (any Error).self) { try AdamW(parameters: [p], lr: 1e-3, weightDecay: -0.1) }
        #expect(throws: (any Error).self) { try p.accumulateGrad(Tensor(zeros: [3])) }
        #expect(throws: (any Error).self) { try p.assign(Tensor(zeros: [2, 1])) }
    }
}

// Reference values: paste the output of `python3 scripts/ref_optim.py` between the markers.
// BEGIN ref_optim.py
// Generated by scripts/ref_optim.py (torch 2.13.0+cpu, transformers 5.23.0).
// Parameters are flattened and concatenated in the order p0 [7], p1 [3, 5], p2 [1].
enum OptimReference {
    static let shapes: [[Int]] = [[7], [3, 5], [1]]
    static let lr: Float = 0.001
    static let betas: (Float, Float) = (0.9, 0.95)
    static let initial: [[Float]] = [
        [-0.2111891210079193, -0.5177334547042847, 0.14959584176540375, -1.789896845817566, 0.28445225954055786, -0.32169559597969055, -0.7260503172874451],
        [0.09853727370500565, -1.9514738321304321, -0.1584128886461258, -0.7312848567962646, 0.4096953570842743, 0.4424417316913605, -0.9278627038002014, -0.9331679344177246, -1.4700372219085693, -0.7876892685890198, 0.3194143772125244, 0.857270359992981, 0.2287997156381607, 0.034799251705408096, -0.8674471378326416],
        [0.19577021896839142],
    ]
    /// grads[step][param]
    static let grads: [[[Float]]] = [
        [
            [-0.24470685422420502, 0.07188866287469864, -0.060777999460697174, 0.256805419921875, 0.06074110418558121, 0.41064760088920593, -0.12246433645486832],
            [0.22678352892398834, 0.06754821538925171, 0.5089667439460754, -0.5886161923408508, 0.2622774839401245, -0.3070954978466034, -0.2605940103530884, -0.005508934613317251, -0.45316779613494873, -0.35837429761886597, -0.15166255831718445, -0.09674514830112457, -0.5711036920547485, -0.2620893716812134, -0.0437740683555603],
            [-0.03957827389240265],
        ],
        [
            [-0.1986924409866333, -0.001226636697538197, -0.15401232242584229, 0.3520496189594269, -0.24274055659770966, 0.017731139436364174, -0.14687849581241608],
            [0.2563687264919281, -0.29146456718444824, 0.26298078894615173, -0.3585905432701111, -0.410099059343338, -0.1645408719778061, 0.027638057246804237, -0.4563070833683014, -0.15125682950019836, -0.0011911396868526936, -0.010667296126484871, 0.26266977190971375, 0.2352820634841919, 0.09984937310218811, 0.2740299105644226],
            [0.28191787004470825],
        ],
        [
            [-0.3327487111091614, 0.65557861328125, -0.014678094536066055, -0.18178272247314453, 0.18004480004310608, -0.14657314121723175, 0.18814711272716522],
            [-0.3604196608066559, 0.2176075428724289, -0.37916210293769836, 0.11271976679563522, -0.0639675185084343, -0.150444895029068, 0.045922037214040756, -0.17259252071380615, -0.2315828800201416, 0.11847194284200668, 0.5793620347976685, -0.2993270754814148, 0.34655019640922546, 0.3244673013687134, -0.33602407574653625],
            [0.05707038193941116],
        ],
        [
            [0.15721173584461212, -0.2732568085193634, 0.3237653374671936, 0.26337292790412903, 0.5095313191413879, 0.11695032566785812, 0.2838091254234314],
            [0.5436349511146545, 0.060897164046764374, -0.15006683766841888, -0.43527430295944214, 0.08593644201755524, -0.3801649510860443, 0.32930800318717957, 0.04414951801300049, 0.24331718683242798, 0.04881405457854271, 0.3714994192123413, -0.13690640032291412, 0.01502031646668911, 0.4200344979763031, -0.37749332189559937],
            [0.05775816738605499],
        ],
        [
            [0.29257723689079285, -0.3190600275993347, -0.20991568267345428, -0.3749732971191406, 0.3542267680168152, -0.05681385099887848, -0.09454581141471863],
            [-0.4237632155418396, -0.31913644075393677, 0.2779597342014313, -0.056839875876903534, -0.12026596069335938, 0.23756934702396393, -0.27176105976104736, 0.48401325941085815, -0.11046436429023743, -0.15391294658184052, -0.07954953610897064, 0.011202480643987656, 0.21035055816173553, -0.20965071022510529, -0.24720819294452667],
            [0.011447195895016193],
        ],
        [
            [0.10168394446372986, 0.26317664980888367, -0.1430259495973587, 0.2901035249233246, -0.30596786737442017, 0.4157334566116333, -0.32762157917022705],
            [-0.0258792657405138, 0.05858829990029335, 0.3039505183696747, 0.4380502700805664, 0.014769316650927067, 0.5686933398246765, -0.2458576261997223, 0.09812573343515396, -0.07107018679380417, 0.1717280149459839, -0.2855572998523712, -0.32935112714767456, 0.384948194026947, 0.31920909881591797, 0.1683354675769806],
            [-0.21066385507583618],
        ],
    ]
    static let gradScales: [Float] = [3.0, 0.1, 2.0, 0.05, 1.5, 0.2]
    /// Plain run: parameters after each step (constant lr).
    static let plainAfter: [[Float]] = [
        [-0.2101679891347885, -0.5186816453933716, 0.15058088302612305, -1.7907178401947021, 0.2834238111972809, -0.32266339659690857, -0.7249777317047119, 0.09753727167844772, -1.9524738788604736, -0.15941289067268372, -0.7302848696708679, 0.40869536995887756, 0.4434417188167572, -0.9268627166748047, -0.9321679472923279, -1.4690371751785278, -0.786689281463623, 0.32041436433792114, 0.8582703471183777, 0.22979971766471863, 0.03579925000667572, -0.8664471507072449, 0.19675064086914062],
        [-0.2091551274061203, -0.5192954540252686, 0.15149541199207306, -1.7915310859680176, 0.283948689699173, -0.32334163784980774, -0.7239068150520325, 0.09653748571872711, -1.9519065618515015, -0.16035673022270203, -0.7293198704719543, 0.4089600741863251, 0.4443904757499695, -0.9262675642967224, -0.9314250349998474, -1.4681570529937744, -0.7860081195831299, 0.321144163608551, 0.8578079342842102, 0.23013867437839508, 0.03616376593708992, -0.8670689463615417, 0.19609478116035461],
        [-0.20815064013004303, -0.5199174284934998, 0.15226176381111145, -1.7918181419372559, 0.28389811515808105, -0.32361114025115967, -0.7237321138381958, 0.09646860510110855, -1.9519237279891968, -0.16060927510261536, -0.7286800742149353, 0.40924933552742004, 0.4453240931034088, -0.9259222745895386, -0.9306572675704956, -1.4672602415084839, -0.7857092022895813, 0.3206776976585388, 0.8580256700515747, 0.23005139827728271, 0.03586426004767418, -0.8668885231018066, 0.19546166062355042],
        [-0.20755062997341156, -0.5201607942581177, 0.15202639997005463, -1.7922565937042236, 0.2833758592605591, -0.3239743113517761, -0.7240180969238281, 0.09600965678691864, -1.9520325660705566, -0.16068725287914276, -0.727927565574646, 0.4093831777572632, 0.4462624788284302, -0.9261986017227173, -0.9300759434700012, -1.4668376445770264, -0.7855405807495117, 0.32005006074905396, 0.8583800792694092, 0.22996635735034943, 0.03528980165719986, -0.8664029240608215, 0.1948290765285492],
        [-0.20739439129829407, -0.5201172828674316, 0.1521160900592804, -1.792192816734314, 0.28271484375, -0.32420656085014343, -0.7241155505180359, 0.09594062715768814, -1.9517518281936646, -0.160953089594841, -0.7272464036941528, 0.4096256494522095, 0.44677016139030457, -0.9261031746864319, -0.9301131963729858, -1.4663790464401245, -0.7851974368095398, 0.31957727670669556, 0.8586691617965698, 0.2297370284795761, 0.03500668331980705, -0.8658108115196228, 0.19426345825195312],
        [-0.20735065639019012, -0.5202383399009705, 0.15235303342342377, -1.7923146486282349, 0.2823929190635681, -0.3246871531009674, -0.7238317131996155, 0.09589622914791107, -1.9515703916549683, -0.1613638997077942, -0.7269818186759949, 0.40982162952423096, 0.446723073720932, -0.9258024096488953, -0.9302189946174622, -1.4659174680709839, -0.7851331233978271, 0.31939324736595154, 0.8591772317886353, 0.22931766510009766, 0.03455629572272301, -0.8654488325119019, 0.19417253136634827],
    ]
    static let plainExpAvg: [Float] = [-0.0025087904650717974, 0.02742462046444416, -0.02173367701470852, 0.041606079787015915, 0.04334142431616783, 0.06065956503152847, -0.021434910595417023, 0.007244913838803768, -0.01720152609050274, 0.06292324513196945, -0.04663483798503876, -0.018468759953975677, 0.007560573518276215, -0.032597076147794724, 0.014104277826845646, -0.050905581563711166, -0.005328615661710501, 0.026956358924508095, -0.05331619083881378, 0.06562028080224991, 0.06180381029844284, -0.045094020664691925, 0.004962279926985502]
    static let plainExpAvgSq: [Float] = [0.014369376003742218, 0.030292291194200516, 0.008964220993220806, 0.023032400757074356, 0.026288442313671112, 0.016870200634002686, 0.012402447871863842, 0.032134734094142914, 0.01084293145686388, 0.028307223692536354, 0.03748340159654617, 0.010717237368226051, 0.031094709411263466, 0.014172746799886227, 0.021454984322190285, 0.014679747633635998, 0.008277948945760727, 0.025889400392770767, 0.01328823622316122, 0.029542850330471992, 0.022720657289028168, 0.018722722306847572, 0.005812706891447306]
    /// Clipped run: grads × gradScales[t], clip_grad_norm_(max_norm 1), linear warmup 2 / total 6.
    static let clippedAfter: [[Float]] = [
        [-0.2111891210079193, -0.5177334547042847, 0.14959584176540375, -1.789896845817566, 0.28445225954055786, -0.32169559597969055, -0.7260503172874451, 0.09853727370500565, -1.9514738321304321, -0.1584128886461258, -0.7312848567962646, 0.4096953570842743, 0.4424417316913605, -0.9278627038002014, -0.9331679344177246, -1.4700372219085693, -0.7876892685890198, 0.3194143772125244, 0.857270359992981, 0.2287997156381607, 0.034799251705408096, -0.8674471378326416, 0.19577021896839142],
        [-0.21079877018928528, -0.5180460214614868, 0.15003326535224915, -1.79021155834198, 0.2843277156352997, -0.32202109694480896, -0.725616991519928, 0.09814320504665375, -1.9515676498413086, -0.1587786078453064, -0.7309146523475647, 0.40944525599479675, 0.4428083896636963, -0.9275290369987488, -0.9327734708786011, -1.469680666923523, -0.7873497605323792, 0.3197574019432068, 0.8574522137641907, 0.22911663353443146, 0.03511788696050644, -0.867441713809967, 0.19573360681533813],
        [-0.20992718636989594, -0.5186679363250732, 0.15084297955036163, -1.7901661396026611, 0.28365445137023926, -0.32226455211639404, -0.7257506251335144, 0.09836520999670029, -1.952204942703247, -0.15883636474609375, -0.730472207069397, 0.4092205762863159, 0.4436067044734955, -0.9271318912506104, -0.9319792985916138, -1.4688910245895386, -0.7870579957962036, 0.31927865743637085, 0.8581327199935913, 0.22919170558452606, 0.03491919860243797, -0.8668252229690552, 0.19522763788700104],
        [-0.20939385890960693, -0.5190358757972717, 0.15116770565509796, -1.7901405096054077, 0.2831612527370453, -0.3224203884601593, -0.7258619666099548, 0.09846451133489609, -1.9526094198226929, -0.15886498987674713, -0.7301742434501648, 0.4090709090232849, 0.4441365897655487, -0.9269252419471741, -0.931492269039154, -1.4684149026870728, -0.7868804931640625, 0.31896254420280457, 0.8585689663887024, 0.22923772037029266, 0.03476528823375702, -0.866409957408905, 0.19488871097564697],
        [-0.20933151245117188, -0.5190797448158264, 0.15145984292030334, -1.7898701429367065, 0.28279897570610046, -0.32246270775794983, -0.7257910966873169, 0.09870101511478424, -1.9525049924850464, -0.15900476276874542, -0.7299739122390747, 0.4091236889362335, 0.44419148564338684, -0.926646888256073, -0.9316567182540894, -1.4680836200714111, -0.7866700291633606, 0.31882554292678833, 0.8588066697120667, 0.22916573286056519, 0.03482762724161148, -0.8660606145858765, 0.19465133547782898],
        [-0.20931057631969452, -0.5191096663475037, 0.15160492062568665, -1.7897666692733765, 0.28266602754592896, -0.3225141763687134, -0.7257142663002014, 0.09880570322275162, -1.95246422290802, -0.15908114612102509, -0.7299162149429321, 0.40914490818977356, 0.44416913390159607, -0.9265057444572449, -0.9317342638969421, -1.4679338932037354, -0.7865944504737854, 0.31878337264060974, 0.8589422106742859, 0.22911445796489716, 0.0348304845392704, -0.8659224510192871, 0.19464479386806488],
    ]
    static let clippedNorms: [Float] = [4.220355033874512, 0.1154337003827095, 2.7494585514068604, 0.0696740448474884, 1.8015270233154297, 0.2673901915550232]
    static let clippedLRs: [Double] = [0.0, 0.0005, 0.001, 0.00075, 0.0005, 0.00025]
    /// LambdaLR learning rates (base 3e-4) used by optimiser steps 0..<15.
    static let constantWarmup3: [Double] = [0.0, 9.999999999999999e-05, 0.00019999999999999998, 0.0003, 0.0003, 0.0003, 0.0003, 0.0003, 0.0003, 0.0003, 0.0003, 0.0003, 0.0003, 0.0003, 0.0003]
    static let constantWarmup0: [Double] = [0.0003, 0.0003, 0.0003, 0.0003, 0.0003, 0.0003, 0.0003, 0.0003, 0.0003, 0.0003, 0.0003, 0.0003, 0.0003, 0.0003, 0.0003]
    static let linear3of11: [Double] = [0.0, 9.999999999999999e-05, 0.00019999999999999998, 0.0003, 0.0002625, 0.000225, 0.00018749999999999998, 0.00015, 0.0001125, 7.5e-05, 3.75e-05, 0.0, 0.0, 0.0, 0.0]
    static let linear0of7: [Double] = [0.0003, 0.0002571428571428571, 0.00021428571428571427, 0.0001714285714285714, 0.00012857142857142855, 8.57142857142857e-05, 4.285714285714285e-05, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    static let cosine3of11: [Double] = [0.0, 9.999999999999999e-05, 0.00019999999999999998, 0.0003, 0.000288581929876693, 0.00025606601717798207, 0.00020740251485476345, 0.00015, 9.259748514523653e-05, 4.3933982822017876e-05, 1.1418070123306989e-05, 0.0, 1.1418070123306972e-05, 4.393398282201784e-05, 9.259748514523645e-05]
    static let cosine2of9cycles1_5: [Double] = [0.0, 0.00015, 0.0003, 0.00018337814009344714, 1.4854669814637143e-05, 5.647652972118994e-05, 0.00024352347027880997, 0.0002851453301853629, 0.00011662185990655287, 0.0, 0.00011662185990655278, 0.00028514533018536293, 0.00024352347027881005, 5.647652972119004e-05, 1.4854669814637094e-05]
    static let cosineMin0_1: [Double] = [0.0, 7.5e-05, 0.00015, 0.000225, 0.0003, 0.00029185850380609757, 0.000268415999821062, 0.00023249999999999999, 0.0001884425039850356, 0.0001415574960149644, 9.750000000000003e-05, 6.158400017893799e-05, 3.814149619390237e-05, 2.9999999999999997e-05, 3.814149619390236e-05]
}
// END ref_optim.py
