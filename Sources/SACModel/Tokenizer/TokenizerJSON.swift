import Foundation

extension Tokenizer {
    /// Loads a Hugging Face tokenizer: `tokenizer.json` (model.type "BPE" with vocab and merges as
    /// "a b" strings or [a, b] pairs, added_tokens, pre_tokenizer ByteLevel / Sequence[Digits,
    /// ByteLevel] / Sequence[Split(Llama-3 regex), ByteLevel], decoder ByteLevel, post_processor
    /// TemplateProcessing) and optionally `tokenizer_config.json` (bos/eos/pad/unk tokens,
    /// add_bos_token, add_eos_token, chat_template; a sibling chat_template.jinja is read when the
    /// config has none).
    /// - Throws: `ModelError` naming the file and field when a file is unreadable or malformed.
    public init(tokenizerJSON: URL, tokenizerConfigJSON: URL?) throws {
        let file = tokenizerJSON.lastPathComponent
        let root = try JSONFile.object(tokenizerJSON)
        guard let model = root["model"] as? [String: Any] else {
            throw ModelError.missingField(file: file, field: "model")
        }
        let type = model["type"] as? String ?? "BPE"
        guard type == "BPE" else {
            throw ModelError.unsupported(file: file, field: "model.type", what: "model type '\(type)'")
        }
        if let bf = model["byte_fallback"] as? Bool, bf {
            throw ModelError.unsupported(file: file, field: "model.byte_fallback", what: "byte fallback")
        }
        if let norm = root["normalizer"], !(norm is NSNull) {
            throw ModelError.unsupported(file: file, field: "normalizer", what: "normalizer")
        }
        guard let vocab = model["vocab"] as? [String: Any] else {
            throw ModelError.missingField(file: file, field: "model.vocab")
        }
        var byId = [Int: String]()
        for (tok, v) in vocab {
            guard let id = JSONFile.int(v), id >= 0 else {
                throw ModelError.invalidField(file: file, field: "model.vocab[\(tok)]", expected: "a non-negative id", found: "\(v)")
            }
            if let other = byId[id] {
                throw ModelError.invalidField(file: file, field: "model.vocab", expected: "unique ids",
                                              found: "id \(id) for \"\(other)\" and \"\(tok)\"")
            }
            byId[id] = tok
        }
        var special = Set<Int>(), verbatim = Set<Int>()
        for (i, entry) in (root["added_tokens"] as? [[String: Any]] ?? []).enumerated() {
            guard let id = entry["id"].flatMap(JSONFile.int), id >= 0, let content = entry["content"] as? String else {
                throw ModelError.invalidField(file: file, field: "added_tokens[\(i)]", expected: "id and content", found: "\(entry)")
            }
            if let old = byId[id], old != content {
                throw ModelError.invalidField(file: file, field: "added_tokens[\(i)]", expected: "id \(id) free or \"\(old)\"",
                                              found: "\"\(content)\"")
            }
            byId[id] = content
            verbatim.insert(id)
            if entry["special"] as? Bool ?? false { special.insert(id) }
        }
        let count = (byId.keys.max() ?? -1) + 1
        guard count > 0 else { throw ModelError.invalidField(file: file, field: "model.vocab", expected: "tokens", found: "none") }
        var tokens = [String]()
        tokens.reserveCapacity(count)
        for id in 0..<count {
            guard let t = byId[id] else {
                throw ModelError.invalidField(file: file, field: "model.vocab", expected: "contiguous ids 0..<\(count)",
                                              found: "no token with id \(id)")
            }
            tokens.append(t)
        }
        guard let mergesAny = model["merges"] as? [Any] else {
            throw ModelError.missingField(file: file, field: "model.merges")
        }
        var pairs = [(String, String)]()
        pairs.reserveCapacity(mergesAny.count)
        for (i, m) in mergesAny.enumerated() {
            if let s = m as? String {
                let parts = s.split(separator: " ", omittingEmptySubsequences: false)
                guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                    throw ModelError.invalidField(file: file, field: "model.merges[\(i)]", expected: "\"left right\"", found: "\"\(s)\"")
                }
                pairs.append((String(parts[0]), String(parts[1])))
            } else if let a = m as? [Any], a.count == 2, let l = a[0] as? String, let r = a[1] as? String {
                pairs.append((l, r))
            } else {
                throw ModelError.invalidField(file: file, field: "model.merges[\(i)]", expected: "\"a b\" or [a, b]", found: "\(m)")
            }
        }
        let kind = try Tokenizer.preTokenizerKind(root["pre_tokenizer"], file: file)
        if let dec = root["decoder"] as? [String: Any], let t = dec["type"] as? String, t != "ByteLevel" {
            throw ModelError.unsupported(file: file, field: "decoder.type", what: "decoder '\(t)'")
        }
        var (prefix, suffix) = try Tokenizer.templateIds(root["post_processor"], tokens: tokens, file: file)

        // tokenizer_config.json
        var config = [String: Any]()
        var configFile = "tokenizer_config.json"
        if let url = tokenizerConfigJSON {
            config = try JSONFile.object(url)
            configFile = url.lastPathComponent
        }
        let idOf: (String) -> Int? = { s in tokens.firstIndex(of: s) }
        func tokenId(_ key: String) throws -> Int? {
            guard let v = config[key], !(v is NSNull) else { return nil }
            let s = (v as? String) ?? ((v as? [String: Any])?["content"] as? String)
            guard let s else {
                throw ModelError.invalidField(file: configFile, field: key, expected: "a token string", found: "\(v)")
            }
            guard let id = idOf(s) else {
                throw ModelError.invalidField(file: configFile, field: key, expected: "a token of the vocabulary", found: "\"\(s)\"")
            }
            return id
        }
        let bos = try tokenId("bos_token")
        let eos = try tokenId("eos_token")
        let pad = try tokenId("pad_token")
        var unk = try tokenId("unk_token")
        if unk == nil, let u = model["unk_token"] as? String { unk = idOf(u) }
        if prefix.isEmpty && suffix.isEmpty {
            if config["add_bos_token"] as? Bool ?? false {
                guard let bos else { throw ModelError.missingField(file: configFile, field: "bos_token") }
                prefix = [Int32(bos)]
            }
            if config["add_eos_token"] as? Bool ?? false {
                guard let eos else { throw ModelError.missingField(file: configFile, field: "eos_token") }
                suffix = [Int32(eos)]
            }
        }
        var template: String? = nil
        if let t = config["chat_template"] as? String {
            template = t
        } else if let list = config["chat_template"] as? [[String: Any]] {
            template = list.first { $0["name"] as? String == "default" }?["template"] as? String
        } else if let url = tokenizerConfigJSON {
            let jinja = url.deletingLastPathComponent().appendingPathComponent("chat_template.jinja")
            template = try? String(contentsOf: jinja, encoding: .utf8)
        }
        let verbatimMask = (0..<count).map { verbatim.contains($0) }
        let specialMask = (0..<count).map { special.contains($0) }
        try self.init(tokens: tokens, mergePairs: pairs, special: specialMask, verbatim: verbatimMask,
                      preTokenizer: kind, bosTokenId: bos, eosTokenId: eos, unkTokenId: unk, padTokenId: pad,
                      prefixIds: prefix, suffixIds: suffix, chatTemplate: template, file: file)
    }

    static let gpt2Regex = #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#
    static let llama3Regex = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#

    /// Recognises the supported pre_tokenizer configurations.
    static func preTokenizerKind(_ value: Any?, file: String) throws -> PreTokenizerKind {
        func unsupported(_ what: String) -> ModelError {
            .unsupported(file: file, field: "pre_tokenizer", what: what)
        }
        guard let pre = value as? [String: Any], let type = pre["type"] as? String else {
            throw unsupported("missing pre-tokenizer (expected ByteLevel or a Sequence)")
        }
        func isByteLevel(_ p: [String: Any], regex: Bool) -> Bool {
            p["type"] as? String == "ByteLevel" && (p["add_prefix_space"] as? Bool ?? false) == false
                && (p["use_regex"] as? Bool ?? true) == regex
        }
        if isByteLevel(pre, regex: true) { return .gpt2 }
        if type == "Sequence", let items = pre["pretokenizers"] as? [[String: Any]] {
            if items.count == 1, isByteLevel(items[0], regex: true) { return .gpt2 }
            if items.count == 2, items[0]["type"] as? String == "Digits",
               items[0]["individual_digits"] as? Bool == true, isByteLevel(items[1], regex: true) {
                return .smollm
            }
            if items.count == 2, items[0]["type"] as? String == "Split", isByteLevel(items[1], regex: false),
               let pattern = (items[0]["pattern"] as? [String: Any])?["Regex"] as? String,
               (items[0]["behavior"] as? String ?? "Isolated") == "Isolated", (items[0]["invert"] as? Bool ?? false) == false {
                if pattern == llama3Regex { return .llama3 }
                if pattern == gpt2Regex { return .gpt2 }
                throw unsupported("Split regex \(pattern)")
            }
        }
        throw unsupported("pre-tokenizer configuration of type \(type)")
    }

    /// Special ids before and after sequence A in a TemplateProcessing post-processor (possibly
    /// inside a Sequence); ([], []) when there is none.
    static func templateIds(_ value: Any?, tokens: [String], file: String) throws -> ([Int32], [Int32]) {
        guard let pp = value as? [String: Any], let type = pp["type"] as? String else { return ([], []) }
        if type == "Sequence", let items = pp["processors"] as? [Any] {
            for item in items {
                let r = try templateIds(item, tokens: tokens, file: file)
                if !r.0.isEmpty || !r.1.isEmpty { return r }
            }
            return ([], [])
        }
        guard type == "TemplateProcessing", let single = pp["single"] as? [[String: Any]] else { return ([], []) }
        var prefix = [Int32](), suffix = [Int32]()
        var seenA = false
        for piece in single {
            if piece["Sequence"] != nil { seenA = true; continue }
            guard let st = piece["SpecialToken"] as? [String: Any], let name = st["id"] as? String else {
                throw ModelError.unsupported(file: file, field: "post_processor.single", what: "piece \(piece)")
            }
            guard let id = tokens.firstIndex(of: name) else {
                throw ModelError.invalidField(file: file, field: "post_processor.single", expected: "a token of the vocabulary",
                                              found: "\"\(name)\"")
            }
            if seenA { suffix.append(Int32(id)) } else { prefix.append(Int32(id)) }
        }
        return (prefix, suffix)
    }
}

/// Small helpers for reading JSON files with Foundation.
enum JSONFile {
    static func object(_ url: URL) throws -> [String: Any] {
        let file = url.lastPathComponent
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw ModelError.unreadable(file: file, reason: "\(error.localizedDescription)")
        }
        let any: Any
        do { any = try JSONSerialization.jsonObject(with: data) } catch {
            throw ModelError.invalidField(file: file, field: "(root)", expected: "valid JSON", found: "parse error")
        }
        guard let obj = any as? [String: Any] else {
            throw ModelError.invalidField(file: file, field: "(root)", expected: "a JSON object", found: "\(type(of: any))")
        }
        return obj
    }

    static func int(_ v: Any) -> Int? {
        if let i = v as? Int { return i }
        if let d = v as? Double, d == d.rounded(), abs(d) < 1e15 { return Int(d) }
        return nil
    }
}
