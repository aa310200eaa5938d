/// One chat message.
public struct ChatMessage: Sendable, Equatable {
    /// "system", "user" or "assistant".
    public var role: String
    public var content: String
    public init(role: String, content: String) { self.role = role; self.content = content }
}

/// A chat template: the small subset of Jinja used by ChatML-style templates such as SmolLM2's
/// (`{% for message in messages %}`, `{% if … %}{% elif … %}{% else %}{% endif %}`, `{{ … }}` with
/// string literals, `+`, `==`, `!=`, `and`, `or`, `not`, `messages[i]['role']`, `message.content`,
/// `loop.first/last/index/index0`, `add_generation_prompt`, `bos_token`, `eos_token`, and
/// `{%-`/`-%}` whitespace control). Anything else (filters, calls, `set`, macros) makes `init`
/// throw `ModelError.unsupported`, so an unsupported template is detected when it is loaded.
public struct ChatTemplate: Sendable {
    let nodes: [JinjaNode]
    /// The template source.
    public let source: String

    /// Parses `source`. - Throws: `ModelError.unsupported(file: "chat_template", …)`.
    public init(_ source: String) throws {
        self.source = source
        var parser = JinjaParser(tokens: try JinjaLexer.lex(source))
        nodes = try parser.parseBlock(until: [])
    }

    /// Renders the conversation as `apply_chat_template(messages, tokenize=False,
    /// add_generation_prompt:)` does in transformers.
    public func render(_ messages: [ChatMessage], addGenerationPrompt: Bool = true,
                       bosToken: String = "", eosToken: String = "") throws -> String {
        let msgs = JinjaValue.list(messages.map { .dict(["role": .string($0.role), "content": .string($0.content)]) })
        var env: [String: JinjaValue] = [
            "messages": msgs, "add_generation_prompt": .bool(addGenerationPrompt),
            "bos_token": .string(bosToken), "eos_token": .string(eosToken),
        ]
        var out = ""
        try JinjaNode.run(nodes, &env, &out)
        return out
    }
}

extension Tokenizer {
    /// Renders `messages` with the model's chat template (see `ChatTemplate`).
    /// - Throws: `ModelError.missingField` without a template, `.unsupported` for templates
    ///   outside the supported subset.
    public func applyChatTemplate(_ messages: [ChatMessage], addGenerationPrompt: Bool = true) throws -> String {
        guard let chatTemplate else { throw ModelError.missingField(file: "tokenizer", field: "chat_template") }
        let bos = bosTokenId.flatMap { tokenString(Int32($0)) } ?? ""
        let eos = eosTokenId.flatMap { tokenString(Int32($0)) } ?? ""
        return try ChatTemplate(chatTemplate).render(messages, addGenerationPrompt: addGenerationPrompt,
                                                      bosToken: bos, eosToken: eos)
    }
}
