import Foundation
import Testing
@testable import SACModel

/// Fixtures written by scripts/make_tokenizer_fixtures.py (transformers / tokenizers reference).
enum TokenizerFixtures {
    static func url(_ rel: String) -> URL {
        Bundle.module.resourceURL!.appendingPathComponent("Fixtures").appendingPathComponent(rel)
    }

    struct Case: Decodable {
        let text: String
        let ids: [Int32]
        let ids_smollm: [Int32]
        let ids_llama3: [Int32]
        let decoded: String
        let decoded_skip: String
    }
    struct DecodeCase: Decodable { let ids: [Int32]; let decoded: String; let decoded_skip: String }
    struct Message: Decodable { let role: String; let content: String }
    struct Chat: Decodable { let messages: [Message]; let add_generation_prompt: Bool; let text: String; let ids: [Int32] }
    struct Cases: Decodable { let cases: [Case]; let decode_cases: [DecodeCase]; let chats: [Chat] }
    struct GoldenCase: Decodable { let text: String; let ids: [Int32]; let tokens: [String]; let decoded: String }
    struct GoldenCases: Decodable { let cases: [GoldenCase] }
    struct Prompt: Decodable { let text: String; let input_ids: [Int32] }
    struct Golden: Decodable { let prompts: [Prompt] }

    static let cases: Cases = try! JSONDecoder().decode(Cases.self, from: Data(contentsOf: url("tokenizer/cases.json")))
    static let golden: GoldenCases = try! JSONDecoder().decode(
        GoldenCases.self, from: Data(contentsOf: url("golden/tokenizer_cases.json")))
    static let prompts: [Prompt] = try! JSONDecoder().decode(
        Golden.self, from: Data(contentsOf: url("golden/golden.json"))).prompts

    /// The SmolLM2 tokenizer from the saved tokenizer.json + tokenizer_config.json.
    static let smol: Tokenizer = try! Tokenizer(tokenizerJSON: url("tokenizer/tokenizer.json"),
                                                tokenizerConfigJSON: url("tokenizer/tokenizer_config.json"))

    /// The same vocabulary with another pre-tokenizer.
    static func with(_ kind: PreTokenizerKind) -> Tokenizer {
        let t = smol
        return try! Tokenizer(tokens: t.tokens, mergePairs: mergePairs, special: t.isSpecial,
                              verbatim: t.isSpecial, preTokenizer: kind, bosTokenId: t.bosTokenId,
                              eosTokenId: t.eosTokenId, unkTokenId: t.unkTokenId, padTokenId: t.padTokenId,
                              prefixIds: t.prefixIds, suffixIds: t.suffixIds, chatTemplate: t.chatTemplate, file: "test")
    }

    static let mergePairs: [(String, String)] = {
        let obj = try! JSONFile.object(url("tokenizer/tokenizer.json"))
        let merges = (obj["model"] as! [String: Any])["merges"] as! [Any]
        return merges.map { m in
            if let a = m as? [Any] { return (a[0] as! String, a[1] as! String) }
            let p = (m as! String).split(separator: " ")
            return (String(p[0]), String(p[1]))
        }
    }()
}

@Suite struct TokenizerTests {
    let tok = TokenizerFixtures.smol

    @Test func goldenCasesEncodeExactly() {
        for c in TokenizerFixtures.golden.cases {
            let ids = tok.encode(c.text)
            #expect(ids == c.ids, "text: \(c.text.debugDescription)")
            #expect(ids.map { tok.tokenString($0) ?? "?" } == c.tokens)
            #expect(tok.decode(ids) == c.decoded)
        }
    }

    @Test func goldenPromptsEncodeExactly() {
        for p in TokenizerFixtures.prompts {
            #expect(tok.encode(p.text) == p.input_ids, "prompt: \(p.text.prefix(60))")
        }
    }

    @Test func extraCasesMatchTransformers() {
        var failures = 0
        for c in TokenizerFixtures.cases.cases {
            let ids = tok.encode(c.text)
            if ids != c.ids {
                failures += 1
                if failures < 5 { Issue.record("ids differ for \(c.text.debugDescription): \(ids) vs \(c.ids)") }
            }
            #expect(tok.decode(c.ids) == c.decoded, "decode \(c.text.debugDescription)")
            #expect(tok.decode(c.ids, skipSpecialTokens: true) == c.decoded_skip)
        }
        #expect(failures == 0)
        #expect(TokenizerFixtures.cases.cases.count > 300)
    }

    @Test(arguments: [PreTokenizerKind.smollm, .llama3])
    func otherPreTokenizersMatchTokenizersLibrary(kind: PreTokenizerKind) {
        let t = TokenizerFixtures.with(kind)
        var failures = 0
        for c in TokenizerFixtures.cases.cases {
            let expected = kind == .smollm ? c.ids_smollm : c.ids_llama3
            let ids = t.encode(c.text)
            if ids != expected {
                failures += 1
                if failures < 5 { Issue.record("\(kind) ids differ for \(c.text.debugDescription): \(ids) vs \(expected)") }
            }
        }
        #expect(failures == 0)
    }

    @Test func decodeOfArbitraryIdsMatchesTransformers() {
        for c in TokenizerFixtures.cases.decode_cases {
            #expect(tok.decode(c.ids) == c.decoded, "ids \(c.ids)")
            #expect(tok.decode(c.ids, skipSpecialTokens: true) == c.decoded_skip, "ids \(c.ids)")
        }
    }

    @Test func specialTokens() {
        let start = tok.id(of: "<|im_start|>"), end = tok.id(of: "<|im_end|>")
        #expect(start == 1 && end == 2)
        #expect(tok.bosTokenId == 1 && tok.eosTokenId == 2 && tok.unkTokenId == 0 && tok.padTokenId == 2)
        #expect(tok.vocabularySize == 49152)
        #expect(tok.encode("<|im_start|>user") == [1] + tok.encode("user"))
        #expect(tok.encode("x<|im_end|><|im_end|>y") == tok.encode("x") + [2, 2] + tok.encode("y"))
        // A broken marker is ordinary text.
        #expect(!tok.encode("<|im_start|").contains(1))
        #expect(tok.isSpecialToken(0) && !tok.isSpecialToken(100) && !tok.isSpecialToken(-1))
        #expect(tok.decode([1, 4093, 2], skipSpecialTokens: true) == tok.decode([4093]))
        #expect(tok.tokenString(49152) == nil && tok.tokenString(-1) == nil)
        #expect(tok.decode([-5, 99999]) == "")
    }

    @Test func addSpecialTokensUsesPrefixAndSuffix() throws {
        let t = TokenizerFixtures.smol
        let b = try Tokenizer(tokens: t.tokens, merges: TokenizerFixtures.mergePairs.map { "\($0.0) \($0.1)" },
                              tokenTypes: t.isSpecial.map { $0 ? Int32(3) : Int32(1) }, preTokenizer: .smollm,
                              bosTokenId: 1, eosTokenId: 2, unkTokenId: 0, padTokenId: 2,
                              addBOS: true, addEOS: true, chatTemplate: nil)
        let plain = t.encode("Hello there")
        #expect(b.encode("Hello there") == [1] + plain + [2])
        #expect(b.encode("Hello there", addSpecialTokens: false) == plain)
        #expect(b.encode("") == [1, 2])
    }

    @Test func largeWordsUseTheSameMerges() {
        // Long pre-tokens exercise the heap path on many stale entries.
        let text = String(repeating: "ab", count: 2000) + " " + String(repeating: "a", count: 3001)
        let ids = tok.encode(text)
        #expect(tok.decode(ids) == text)
        #expect(ids.count < text.utf8.count / 2)
    }
}
