import Foundation
import SACCompression
import SACModel
import SACTensor

/// `trainer_state.json` in a checkpoint.
public struct TrainerState: Codable, Sendable, Equatable {
    /// Optimiser updates done.
    public var step: Int
    public var config: TrainerConfig
    public var settings: CompressorSettings
    /// `DataFiles.fingerprint` of the training data.
    public var data: String
    /// Per parameter name, AdamW's update count (moments are in optimizer.safetensors).
    public var optimizerSteps: [String: Int]
    /// The last logged training loss.
    public var loss: Double?
    /// Seconds spent in training updates so far (validation and checkpoints excluded), over
    /// every sitting of the run.
    public var trainSeconds: Double?
    /// The best validation SQuAD F1 so far and its update (the adapter in `out/best`).
    public var bestF1: Double?
    public var bestStep: Int?
    /// Whether `optimizer.safetensors` holds AdamW's moments; false in a compact copy written
    /// without them (`exportCompact(moments: false)`), whose resume starts fresh moments and
    /// re-warms the learning rate. nil (checkpoints older than the field): true.
    public var hasMoments: Bool?
    /// The update at which a resume without moments began re-warming the learning rate
    /// (`Trainer.rewarmSteps` updates); carried by later checkpoints, so that a run stopped
    /// during the re-warm continues it.
    public var rewarmFrom: Int?
}

/// Checkpoints of a training run in `out/checkpoints/step-NNNNNN/` (adapter files,
/// `optimizer.safetensors`, `trainer_state.json`), with `out/checkpoints/latest` naming the
/// newest complete one.
///
/// A checkpoint is written into a temporary directory and renamed into place before
/// `latest` is atomically replaced, so a run killed at any moment leaves the previous
/// checkpoint intact and `latest` pointing to a complete one.
public enum Checkpoint {
    static func dir(_ out: String) -> String { out + "/checkpoints" }

    /// Writes a checkpoint of `compressor` and `optimizer` at `state.step`; keeps the newest
    /// `keep` checkpoints.
    public static func save(
        out: String, compressor: Compressor, optimizer: AdamW, state: TrainerState, modelName: String, keep: Int = 2
    ) throws {
        let fm = FileManager.default
        let root = dir(out)
        try fm.createDirectory(atPath: root, withIntermediateDirectories: true)
        let name = String(format: "step-%06d", state.step)
        try AtomicFile.replaceDirectory(at: root + "/" + name) { tmp in
            try compressor.saveAdapter(to: tmp, modelName: modelName)
            let opt = optimizer.state()
            var tensors: [String: Tensor] = [:]
            var steps: [String: Int] = [:]
            for (n, e) in opt.entries {
                steps[n] = e.step
                if e.step > 0 {
                    tensors["m/" + n] = try Tensor(shape: e.shape, data: e.m)
                    tensors["v/" + n] = try Tensor(shape: e.shape, data: e.v)
                }
            }
            try SafetensorsWriter.write(tensors, metadata: ["format": "sac-optimizer"], to: tmp + "/optimizer.safetensors")
            var st = state
            st.optimizerSteps = steps
            try AtomicFile.write(JSONEncoder.pretty.encode(st), to: tmp + "/trainer_state.json")
        }
        try AtomicFile.write(Data(name.utf8), to: root + "/latest")
        // Prune older checkpoints.
        let all = (try fm.contentsOfDirectory(atPath: root)).filter { $0.hasPrefix("step-") }.sorted()
        for old in all.dropLast(keep) where old != name { try? fm.removeItem(atPath: root + "/" + old) }
    }

    /// Writes the newest checkpoint of the run in `out` compactly into `dest` (a new run
    /// directory): the adapter with F16 weights, the optimiser's moments in BF16, the same
    /// trainer state; with the run's `train_log.jsonl` and `best/` when present. `sac train
    /// --resume --out dest` continues from it: from the F16-rounded weights and BF16 moments,
    /// so not bit for bit the uninterrupted run (what a commit can carry to a new machine).
    ///
    /// With `moments: false` the copy holds no optimiser state (a third of the size: the
    /// moments are twice the weights), and its resume starts AdamW afresh with the learning
    /// rate re-warmed (`Trainer.rewarmSteps`). With β₂ = 0.95 the moments average over about
    /// the last 20 updates, so little is lost.
    public static func exportCompact(out: String, to dest: String, model: LlamaModel, moments: Bool = true) throws {
        let fm = FileManager.default
        guard let path = latest(out: out) else {
            throw TrainingError.invalidCheckpoint(file: out + "/checkpoints/latest", detail: "no checkpoint to export")
        }
        var state = try readState(path)
        if !moments {
            state.hasMoments = false
            state.optimizerSteps = [:]
        }
        let manifest = try Compressor.readManifest(path)
        let name = URL(fileURLWithPath: path).lastPathComponent
        try AtomicFile.replaceDirectory(at: dest) { tmp in
            let ck = tmp + "/checkpoints/" + name
            try fm.createDirectory(atPath: ck, withIntermediateDirectories: true)
            let comp = try Compressor.load(adapter: path, model: model)
            try comp.saveAdapter(to: ck, modelName: manifest.modelName, dtype: .F16)
            if moments && state.hasMoments != false {
                let opt = try SafetensorsFile(path: path + "/optimizer.safetensors")
                var tensors: [String: Tensor] = [:]
                for key in opt.tensors.keys { tensors[key] = try opt.tensor(key) }
                try SafetensorsWriter.write(
                    tensors, metadata: ["format": "sac-optimizer"], dtype: .BF16, to: ck + "/optimizer.safetensors")
            }
            try AtomicFile.write(JSONEncoder.pretty.encode(state), to: ck + "/trainer_state.json")
            try AtomicFile.write(Data(name.utf8), to: tmp + "/checkpoints/latest")
            if fm.fileExists(atPath: out + "/train_log.jsonl") {
                try fm.copyItem(atPath: out + "/train_log.jsonl", toPath: tmp + "/train_log.jsonl")
            }
            if fm.fileExists(atPath: out + "/best/adapter_model.safetensors") {
                let best = try Compressor.load(adapter: out + "/best", model: model)
                try best.saveAdapter(to: tmp + "/best", modelName: manifest.modelName, dtype: .F16)
                if let info = fm.contents(atPath: out + "/best/best.json") { try AtomicFile.write(info, to: tmp + "/best/best.json") }
            }
        }
    }

    /// The newest complete checkpoint's directory, or nil when there is none.
    public static func latest(out: String) -> String? {
        guard let data = FileManager.default.contents(atPath: dir(out) + "/latest"),
              let name = String(data: data, encoding: .utf8)?.trimmingCharacters(in: .whitespacesAndNewlines),
              !name.isEmpty else { return nil }
        let path = dir(out) + "/" + name
        return FileManager.default.fileExists(atPath: path + "/trainer_state.json") ? path : nil
    }

    /// Reads a checkpoint's trainer state.
    public static func readState(_ path: String) throws -> TrainerState {
        let file = path + "/trainer_state.json"
        guard let data = FileManager.default.contents(atPath: file) else {
            throw TrainingError.invalidCheckpoint(file: file, detail: "missing")
        }
        do { return try JSONDecoder().decode(TrainerState.self, from: data) } catch {
            throw TrainingError.invalidCheckpoint(file: file, detail: "not a valid trainer state (\(error))")
        }
    }

    /// Restores parameters and optimiser moments from checkpoint `path` (the optimiser is left
    /// as it is, fresh, when the checkpoint has no moments: `state.hasMoments == false`).
    public static func restore(_ path: String, compressor: Compressor, optimizer: AdamW, state: TrainerState) throws {
        let manifest = try Compressor.readManifest(path)
        guard manifest.settings == compressor.settings else {
            throw TrainingError.mismatch(
                file: path, field: "compressor settings", expected: "\(compressor.settings)", found: "\(manifest.settings)")
        }
        try compressor.loadParameters(from: path + "/adapter_model.safetensors")
        guard compressor.adapterIdentity == manifest.adapterIdentity else {
            throw TrainingError.mismatch(
                file: path, field: "adapter weights", expected: manifest.adapterIdentity, found: compressor.adapterIdentity)
        }
        if state.hasMoments == false { return }
        let file = path + "/optimizer.safetensors"
        let f: SafetensorsFile
        do { f = try SafetensorsFile(path: file) } catch {
            throw TrainingError.invalidCheckpoint(file: file, detail: "not readable (\(error))")
        }
        var entries: [String: AdamW.State.Entry] = [:]
        for p in compressor.parameters {
            let step = state.optimizerSteps[p.name] ?? 0
            if step == 0 {
                entries[p.name] = .init(step: 0, shape: p.shape, m: [], v: [])
                continue
            }
            guard f.tensors["m/" + p.name] != nil, f.tensors["v/" + p.name] != nil else {
                throw TrainingError.invalidCheckpoint(file: file, detail: "moments of \(p.name) are missing")
            }
            entries[p.name] = .init(step: step, shape: p.shape, m: try f.tensor("m/" + p.name).data, v: try f.tensor("v/" + p.name).data)
        }
        do { try optimizer.restore(AdamW.State(entries: entries)) } catch {
            throw TrainingError.invalidCheckpoint(file: file, detail: "\(error)")
        }
    }
}

extension JSONEncoder {
    static var pretty: JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .prettyPrinted]
        return e
    }
}
