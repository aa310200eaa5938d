import Testing
@testable import SACModel

@Suite struct ChatTemplateTests {
    @Test func smolLM2TemplateMatchesTransformers() throws {
        let tok = TokenizerFixtures.smol
        let template = try #require(tok.chatTemplate)
        #expect(template.contains("<|im_start|>"))
        for chat in TokenizerFixtures.cases.chats {
            let messages = chat.messages.map { ChatMessage(role: $0.role, content: $0.content) }
            let text = try tok.applyChatTemplate(messages, addGenerationPrompt: chat.add_generation_prompt)
            #expect(text == chat.text)
            #expect(tok.encode(text) == chat.ids)
        }
        #expect(TokenizerFixtures.cases.chats.count >= 10)
    }

    @Test func defaultSystemPromptOnlyWithoutSystemMessage() throws {
        let t = try ChatTemplate(try #require(TokenizerFixtures.smol.chatTemplate))
        let withDefault = try t.render([ChatMessage(role: "user", content: "hi")], addGenerationPrompt: false)
        #expect(withDefault.hasPrefix("<|im_start|>system\nYou are a helpful AI assistant named SmolLM"))
        #expect(withDefault.hasSuffix("<|im_start|>user\nhi<|im_end|>\n"))
        let own = try t.render([ChatMessage(role: "system", content: "S"), ChatMessage(role: "user", content: "u")])
        #expect(own == "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nu<|im_end|>\n<|im_start|>assistant\n")
    }

    @Test func subsetFeatures() throws {
        let src = "{%- for m in messages -%}\n  {%- if loop.last and not (m.role == 'user') %}[{{ loop.index }}]"
            + "{%- elif m['role'] != \"system\" %}{{ m.content ~ '\\n' }}{% else %}S{% endif -%}\n{% endfor %}"
            + "{{ messages[-1]['content'] }}{{ bos_token }}"
        let t = try ChatTemplate(src)
        let msgs = [ChatMessage(role: "system", content: "x"), ChatMessage(role: "user", content: "u"),
                    ChatMessage(role: "assistant", content: "a")]
        #expect(try t.render(msgs, bosToken: "<s>") == "Su\n[3]a<s>")
    }

    @Test(arguments: [
        "{{ messages | length }}", "{% set x = 1 %}", "{{ raise_exception('no') }}", "{{ unknown_var }}",
        "{% for m in messages %}no end", "{% if true %}x", "{{ 'unterminated }}", "{% macro f() %}{% endmacro %}",
        "{{ 1 * 2 }}", "{% endif %}",
    ])
    func unsupportedTemplatesThrow(source: String) {
        #expect(throws: ModelError.self) { _ = try ChatTemplate(source) }
    }

    @Test func missingTemplateThrows() throws {
        let t = TokenizerFixtures.with(.gpt2)
        let plain = try Tokenizer(tokens: t.tokens, mergePairs: [], special: [], verbatim: [], preTokenizer: .gpt2,
                                  bosTokenId: nil, eosTokenId: nil, unkTokenId: nil, padTokenId: nil,
                                  prefixIds: [], suffixIds: [], chatTemplate: nil, file: "t")
        #expect(throws: ModelError.self) { _ = try plain.applyChatTemplate([ChatMessage(role: "user", content: "x")]) }
    }
}
