extension Tokenizer {
    /// Builds the tokenizer stored in a GGUF file's metadata: `tokenizer.ggml.model` must be
    /// "gpt2" (byte-level BPE); reads `tokens`, `merges`, `token_type`, `pre` (see
    /// `PreTokenizerKind(ggufName:)`; absent = "default"), `bos/eos/unknown/padding_token_id`,
    /// `add_bos_token`, `add_eos_token` (absent = false) and `tokenizer.chat_template`.
    /// - Throws: `ModelError` for missing or malformed keys and unsupported tokenizer models.
    public init(gguf: GGUFFile) throws {
        let file = NSStringPath(path: gguf.path).lastComponent
        let model = try gguf.string("tokenizer.ggml.model")
        guard let model else { throw ModelError.missingField(file: file, field: "tokenizer.ggml.model") }
        guard model == "gpt2" else {
            throw ModelError.unsupported(file: file, field: "tokenizer.ggml.model", what: "tokenizer model '\(model)'")
        }
        guard let tokens = try gguf.stringArray("tokenizer.ggml.tokens") else {
            throw ModelError.missingField(file: file, field: "tokenizer.ggml.tokens")
        }
        guard let merges = try gguf.stringArray("tokenizer.ggml.merges") else {
            throw ModelError.missingField(file: file, field: "tokenizer.ggml.merges")
        }
        let types = try gguf.intArray("tokenizer.ggml.token_type")?.map { Int32(truncatingIfNeeded: $0) }
        let pre = try PreTokenizerKind(ggufName: try gguf.string("tokenizer.ggml.pre") ?? "default", file: file)
        try self.init(tokens: tokens, mergeList: merges, tokenTypes: types, preTokenizer: pre,
                      bosTokenId: try gguf.int("tokenizer.ggml.bos_token_id"),
                      eosTokenId: try gguf.int("tokenizer.ggml.eos_token_id"),
                      unkTokenId: try gguf.int("tokenizer.ggml.unknown_token_id"),
                      padTokenId: try gguf.int("tokenizer.ggml.padding_token_id"),
                      addBOS: try gguf.bool("tokenizer.ggml.add_bos_token") ?? false,
                      addEOS: try gguf.bool("tokenizer.ggml.add_eos_token") ?? false,
                      chatTemplate: try gguf.string("tokenizer.chat_template"), file: file)
    }
}

/// The last path component of a file path, without Foundation.
private struct NSStringPath {
    let path: String
    var lastComponent: String { path.split(separator: "/").last.map(String.init) ?? path }
}

