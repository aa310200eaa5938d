/// Exact byte-level BPE tokenizer for GPT-2-style vocabularies (SmolLM2, Llama 3, GPT-2): special
/// tokens matched verbatim, then a regex pre-tokenizer, then byte-level BPE by merge rank.
/// Matches Hugging Face `tokenizers` id for id. Value type, `Sendable`; encoding allocates its own
/// scratch per call, so one tokenizer can be shared by threads.
public struct Tokenizer: Sendable {
    /// Token strings by id (byte-level alphabet, or verbatim text for added/special tokens).
    let tokens: [String]
    let tokenToId: [String: Int32]
    /// The bytes each token decodes to.
    let tokenBytes: [[UInt8]]
    /// Tokens skipped by `decode(_:skipSpecialTokens: true)` (control / special added tokens).
    let isSpecial: [Bool]
    let merges: BPEMerges
    /// Id of the single-byte token for each byte, or -1 when the vocabulary lacks it.
    let byteIds: [Int32]
    let matcher: SpecialTokenMatcher
    /// The pre-tokenizer in use.
    public let preTokenizer: PreTokenizerKind
    /// Beginning-of-sequence id, if the model declares one.
    public let bosTokenId: Int?
    /// End-of-sequence id (for SmolLM2-Instruct: `<|im_end|>`), if declared.
    public let eosTokenId: Int?
    /// Unknown-token id, used for bytes missing from the vocabulary.
    public let unkTokenId: Int?
    /// Padding id, if declared.
    public let padTokenId: Int?
    /// Ids put before / after the text by `encode(_:addSpecialTokens: true)`.
    public let prefixIds: [Int32]
    public let suffixIds: [Int32]
    /// The Jinja chat template from the model's metadata, if any.
    public let chatTemplate: String?

    /// Builds a tokenizer from GGUF-style lists.
    /// - Parameters:
    ///   - tokens: token strings, index = id (byte-level alphabet: "Ġthe").
    ///   - merges: BPE merges "left right", rank = index.
    ///   - tokenTypes: per-token type as in GGUF (1 normal, 2 unknown, 3 control, 4 user-defined,
    ///     5 unused, 6 byte); types 3 and 4 are matched verbatim in the input, type 3 is skipped by
    ///     `decode(skipSpecialTokens: true)`. nil: no special tokens.
    ///   - addBOS/addEOS: whether `encode(addSpecialTokens: true)` adds `bosTokenId`/`eosTokenId`.
    /// - Throws: `ModelError` if a list is malformed (empty vocabulary, duplicate token, merge
    ///   naming an unknown token or producing one not in the vocabulary, id out of range).
    public init(tokens: [String], merges: [String], tokenTypes: [Int32]?, preTokenizer: PreTokenizerKind,
                bosTokenId: Int?, eosTokenId: Int?, unkTokenId: Int?, padTokenId: Int?,
                addBOS: Bool, addEOS: Bool, chatTemplate: String?) throws {
        try self.init(tokens: tokens, mergeList: merges, tokenTypes: tokenTypes, preTokenizer: preTokenizer,
                      bosTokenId: bosTokenId, eosTokenId: eosTokenId, unkTokenId: unkTokenId,
                      padTokenId: padTokenId, addBOS: addBOS, addEOS: addEOS, chatTemplate: chatTemplate,
                      file: "tokenizer")
    }

    init(tokens: [String], mergeList: [String], tokenTypes: [Int32]?, preTokenizer: PreTokenizerKind,
         bosTokenId: Int?, eosTokenId: Int?, unkTokenId: Int?, padTokenId: Int?,
         addBOS: Bool, addEOS: Bool, chatTemplate: String?, file: String) throws {
        var pairs = [(String, String)]()
        pairs.reserveCapacity(mergeList.count)
        for (i, m) in mergeList.enumerated() {
            let u = Array(m.unicodeScalars)
            guard u.count >= 3, let sp = u[1...].firstIndex(of: " "), sp + 1 < u.count else {
                throw ModelError.invalidField(file: file, field: "merges[\(i)]", expected: "\"left right\"",
                                              found: "\"\(m)\"")
            }
            var l = String.UnicodeScalarView(), r = String.UnicodeScalarView()
            l.append(contentsOf: u[..<sp]); r.append(contentsOf: u[(sp + 1)...])
            pairs.append((String(l), String(r)))
        }
        if let types = tokenTypes, types.count != tokens.count {
            throw ModelError.invalidField(file: file, field: "token_type", expected: "\(tokens.count) entries",
                                          found: "\(types.count)")
        }
        let types = tokenTypes ?? []
        let special = types.map { $0 == 3 }
        let verbatim = types.map { $0 == 3 || $0 == 4 }
        try self.init(tokens: tokens, mergePairs: pairs, special: special, verbatim: verbatim,
                      preTokenizer: preTokenizer, bosTokenId: bosTokenId, eosTokenId: eosTokenId,
                      unkTokenId: unkTokenId, padTokenId: padTokenId,
                      prefixIds: addBOS ? (bosTokenId.map { [Int32($0)] } ?? []) : [],
                      suffixIds: addEOS ? (eosTokenId.map { [Int32($0)] } ?? []) : [],
                      chatTemplate: chatTemplate, file: file)
        if addBOS && bosTokenId == nil {
            throw ModelError.missingField(file: file, field: "bos_token_id (add_bos_token is true)")
        }
        if addEOS && eosTokenId == nil {
            throw ModelError.missingField(file: file, field: "eos_token_id (add_eos_token is true)")
        }
    }

    /// Designated initialiser: `special[i]` (skipped when decoding with skipSpecialTokens) and
    /// `verbatim[i]` (matched in raw input) may be empty (= all false).
    init(tokens: [String], mergePairs: [(String, String)], special: [Bool], verbatim: [Bool],
         preTokenizer: PreTokenizerKind, bosTokenId: Int?, eosTokenId: Int?, unkTokenId: Int?, padTokenId: Int?,
         prefixIds: [Int32], suffixIds: [Int32], chatTemplate: String?, file: String) throws {
        guard !tokens.isEmpty else {
            throw ModelError.invalidField(file: file, field: "tokens", expected: "a non-empty vocabulary", found: "0 tokens")
        }
        guard tokens.count < Int(Int32.max) else {
            throw ModelError.invalidField(file: file, field: "tokens", expected: "< 2^31 tokens", found: "\(tokens.count)")
        }
        var map = [String: Int32](minimumCapacity: tokens.count)
        for (i, t) in tokens.enumerated() {
            if let old = map[t] {
                throw ModelError.invalidField(file: file, field: "tokens[\(i)]", expected: "unique token strings",
                                              found: "\"\(t)\" also at id \(old)")
            }
            map[t] = Int32(i)
        }
        var table = BPEMerges(capacity: mergePairs.count)
        for (rank, (l, r)) in mergePairs.enumerated() {
            guard let li = map[l] else {
                throw ModelError.invalidField(file: file, field: "merges[\(rank)]", expected: "a token of the vocabulary",
                                              found: "unknown left token \"\(l)\"")
            }
            guard let ri = map[r] else {
                throw ModelError.invalidField(file: file, field: "merges[\(rank)]", expected: "a token of the vocabulary",
                                              found: "unknown right token \"\(r)\"")
            }
            guard let mi = map[l + r] else {
                throw ModelError.invalidField(file: file, field: "merges[\(rank)]", expected: "merged token in the vocabulary",
                                              found: "\"\(l + r)\" missing")
            }
            table.add(left: li, right: ri, rank: rank, merged: mi)
        }
        for (name, id) in [("bos_token_id", bosTokenId), ("eos_token_id", eosTokenId),
                           ("unknown_token_id", unkTokenId), ("padding_token_id", padTokenId)] {
            if let id, id < 0 || id >= tokens.count {
                throw ModelError.invalidField(file: file, field: name, expected: "an id in 0..<\(tokens.count)", found: "\(id)")
            }
        }
        self.tokens = tokens
        self.tokenToId = map
        self.tokenBytes = tokens.map(ByteLevel.decode)
        self.isSpecial = special.isEmpty ? [Bool](repeating: false, count: tokens.count) : special
        self.merges = table
        self.byteIds = (0..<256).map { map[ByteLevel.string(forByte: UInt8($0))] ?? -1 }
        var verbatimTokens = [(String, Int32)]()
        for (i, v) in verbatim.enumerated() where v { verbatimTokens.append((tokens[i], Int32(i))) }
        self.matcher = SpecialTokenMatcher(verbatimTokens)
        self.preTokenizer = preTokenizer
        self.bosTokenId = bosTokenId
        self.eosTokenId = eosTokenId
        self.unkTokenId = unkTokenId
        self.padTokenId = padTokenId
        self.prefixIds = prefixIds
        self.suffixIds = suffixIds
        self.chatTemplate = chatTemplate
    }

    /// Number of tokens (ids are 0..<vocabularySize).
    public var vocabularySize: Int { tokens.count }

    /// The token string of `id` (byte-level spelling, e.g. "Ġworld"), or nil when out of range.
    public func tokenString(_ id: Int32) -> String? {
        id >= 0 && Int(id) < tokens.count ? tokens[Int(id)] : nil
    }

    /// The id of the token spelled `token` (byte-level spelling), or nil.
    public func id(of token: String) -> Int32? { tokenToId[token] }

    /// Whether `id` is a special (control) token that `decode(skipSpecialTokens: true)` drops.
    public func isSpecialToken(_ id: Int32) -> Bool {
        id >= 0 && Int(id) < tokens.count && isSpecial[Int(id)]
    }

    /// Decodes ids to text: concatenates the bytes of the tokens, then decodes UTF-8, replacing
    /// each maximal invalid subsequence by U+FFFD (as Hugging Face does). Ids out of range are
    /// ignored; special tokens are dropped when `skipSpecialTokens`.
    public func decode(_ ids: [Int32], skipSpecialTokens: Bool = false) -> String {
        var bytes = [UInt8]()
        bytes.reserveCapacity(ids.count * 4)
        for id in ids {
            guard id >= 0 && Int(id) < tokens.count else { continue }
            if skipSpecialTokens && isSpecial[Int(id)] { continue }
            bytes.append(contentsOf: tokenBytes[Int(id)])
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The bytes token `id` stands for (empty for ids out of range).
    public func bytes(of id: Int32) -> [UInt8] {
        id >= 0 && Int(id) < tokens.count ? tokenBytes[Int(id)] : []
    }
}
