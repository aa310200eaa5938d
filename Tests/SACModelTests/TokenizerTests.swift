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
    /// Generated whitespace-before-number cases (scripts/make_number_whitespace_fixtures.py).
    struct NumberCase: Decodable { let text: String; let ids: [Int32]; let ids_smollm: [Int32] }
    struct NumberCases: Decodable { let cases: [NumberCase] }
    static let numberCases: NumberCases = try! JSONDecoder().decode(
        NumberCases.self, from: Data(contentsOf: url("tokenizer/number_whitespace_cases.json")))
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

    /// Whitespace runs of every kind and length before every kind of number character, at the
    /// start, middle and end of a text: transformers' ids for the GGUF tokenizer (`ids`), and the
    /// tokenizers library's with SmolLM2's original `Sequence[Digits, ByteLevel]` (`ids_smollm`).
    @Test func whitespaceBeforeNumbersMatchesTransformers() {
        let cases = TokenizerFixtures.numberCases.cases
        #expect(cases.count >= 100)
        #expect(cases.contains { $0.ids != $0.ids_smollm })  // the class the two pre-tokenizers split differently
        let smollm = TokenizerFixtures.with(.smollm)
        var failures = 0, smollmFailures = 0
        for c in cases {
            let ids = tok.encode(c.text, addSpecialTokens: false)
            if ids != c.ids {
                failures += 1
                if failures < 5 { Issue.record("ids differ for \(c.text.debugDescription): \(ids) vs \(c.ids)") }
            }
            let s = smollm.encode(c.text, addSpecialTokens: false)
            if s != c.ids_smollm {
                smollmFailures += 1
                if smollmFailures < 5 { Issue.record("smollm ids differ for \(c.text.debugDescription): \(s) vs \(c.ids_smollm)") }
            }
        }
        #expect(failures == 0)
        #expect(smollmFailures == 0)
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

@Suite struct TokenizerStreamingTests {
    let tok = TokenizerFixtures.smol

    func streamed(_ ids: [Int32], skip: Bool) -> String {
        var d = StreamingDecoder(tokenizer: tok, skipSpecialTokens: skip)
        var s = ""
        for id in ids {
            let piece = d.append(id)
            // Pieces are whole characters: re-encoding them as UTF-8 never yields U+FFFD unless
            // the full decode has one too.
            s += piece
        }
        return s + d.finish()
    }

    @Test func streamingEqualsFullDecode() {
        for c in TokenizerFixtures.cases.cases {
            #expect(streamed(c.ids, skip: false) == c.decoded)
            #expect(streamed(c.ids, skip: true) == c.decoded_skip)
        }
        for c in TokenizerFixtures.cases.decode_cases {
            #expect(streamed(c.ids, skip: false) == c.decoded, "ids \(c.ids)")
        }
    }

    @Test func streamingHoldsIncompleteCharacters() {
        let ids = tok.encode("😀")  // split over byte tokens
        #expect(ids.count > 1)
        var d = StreamingDecoder(tokenizer: tok)
        for id in ids.dropLast() { #expect(d.append(id) == "") }
        #expect(d.append(ids.last!) == "😀")
        #expect(d.finish() == "")
    }

    @Test(arguments: 0..<64)
    func completePrefixMatchesSwiftRepair(seed: Int) {
        var rng = SplitMix64Local(seed: UInt64(seed))
        let n = Int(rng.next() % 12) + 1
        let pool: [UInt8] = [0x41, 0x80, 0xBF, 0xC2, 0xDF, 0xE0, 0xA0, 0xED, 0x9F, 0xF0, 0x90, 0xF4, 0x8F, 0xF5, 0xC0, 0xE1]
        let bytes = (0..<n).map { _ in pool[Int(rng.next() % UInt64(pool.count))] }
        let cut = StreamingDecoder.completePrefix(bytes)
        #expect(String(decoding: bytes[..<cut], as: UTF8.self) + String(decoding: bytes[cut...], as: UTF8.self)
                == String(decoding: bytes, as: UTF8.self),
                "bytes \(bytes) cut \(cut)")
        // The held tail must be a proper prefix of some valid character (at most 3 bytes).
        #expect(bytes.count - cut <= 3)
    }
}

/// Test-local SplitMix64 (SACModelTests does not need SACTensor's generator for bytes).
struct SplitMix64Local {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@Suite struct TokenizerLoadingTests {
    static let modelPath = NSString(string: "~/.cache/sac/models/SmolLM2-135M-Instruct.Q4_1.gguf").expandingTildeInPath

    @Test func ggufTokenizerMatchesGolden() throws {
        guard FileManager.default.fileExists(atPath: Self.modelPath) else {
            if ProcessInfo.processInfo.environment["SAC_REQUIRE_MODEL"] == "1" {
                Issue.record("model missing at \(Self.modelPath)")
            }
            return
        }
        let tok = try Tokenizer(gguf: try GGUFFile(path: Self.modelPath))
        #expect(tok.preTokenizer == .gpt2)  // what transformers builds from the GGUF's "smollm"
        #expect(tok.vocabularySize == 49152 && tok.bosTokenId == 1 && tok.eosTokenId == 2)
        #expect(tok.prefixIds.isEmpty && tok.suffixIds.isEmpty)
        for c in TokenizerFixtures.golden.cases { #expect(tok.encode(c.text) == c.ids, "\(c.text.debugDescription)") }
        for p in TokenizerFixtures.prompts { #expect(tok.encode(p.text) == p.input_ids) }
        for c in TokenizerFixtures.cases.cases {
            #expect(tok.encode(c.text) == c.ids, "\(c.text.debugDescription)")
            #expect(tok.decode(c.ids) == c.decoded)
        }
        var failures = 0
        for c in TokenizerFixtures.numberCases.cases where tok.encode(c.text) != c.ids {
            failures += 1
            if failures < 5 { Issue.record("GGUF ids differ for \(c.text.debugDescription): \(tok.encode(c.text)) vs \(c.ids)") }
        }
        #expect(failures == 0)
        #expect(tok.chatTemplate == TokenizerFixtures.smol.chatTemplate)
    }

    func writeJSON(_ obj: Any) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("tok-\(UUID().uuidString).json")
        try JSONSerialization.data(withJSONObject: obj).write(to: url)
        return url
    }

    static func tiny() -> [String: Any] {
        var vocab = [String: Any]()
        for b in 0..<256 { vocab[ByteLevel.string(forByte: UInt8(b))] = b }
        vocab["ab"] = 256; vocab["abc"] = 257; vocab["<s>"] = 258
        return ["model": ["type": "BPE", "vocab": vocab, "merges": ["a b", ["ab", "c"]]] as [String: Any],
                "pre_tokenizer": ["type": "ByteLevel", "add_prefix_space": false, "use_regex": true],
                "added_tokens": [["id": 258, "content": "<s>", "special": true]],
                "decoder": ["type": "ByteLevel"]]
    }

    @Test func tinyJSONWithBothMergeFormsAndTemplateProcessing() throws {
        var obj = Self.tiny()
        obj["post_processor"] = ["type": "TemplateProcessing",
                                 "single": [["SpecialToken": ["id": "<s>", "type_id": 0]], ["Sequence": ["id": "A", "type_id": 0]]]]
        let url = try writeJSON(obj)
        defer { try? FileManager.default.removeItem(at: url) }
        let t = try Tokenizer(tokenizerJSON: url, tokenizerConfigJSON: nil)
        // "<s>" prefix, "abc" (two merges), " ab" = byte token of 0x20 then "ab", verbatim "<s>".
        #expect(t.encode("abc ab<s>") == [258, 257, 32, 256, 258])
        #expect(t.encode("abcab", addSpecialTokens: false) == [257, 256])
        #expect(t.decode([258, 257], skipSpecialTokens: true) == "abc")
    }

    @Test(arguments: ["no model", "no vocab", "unknown merge token", "merge result missing", "duplicate id",
                      "hole in ids", "bad merge string", "unsupported pre_tokenizer", "normalizer", "wordpiece",
                      "added token clash"])
    func malformedJSONThrowsModelError(defect: String) throws {
        var obj = Self.tiny()
        var model = obj["model"] as! [String: Any]
        var vocab = model["vocab"] as! [String: Any]
        switch defect {
        case "no model": obj["model"] = nil
        case "no vocab": model["vocab"] = nil
        case "unknown merge token": model["merges"] = ["a zz"]
        case "merge result missing": model["merges"] = ["b c"]
        case "duplicate id": vocab["dup"] = 5
        case "hole in ids": vocab["far"] = 400
        case "bad merge string": model["merges"] = ["abc"]
        case "unsupported pre_tokenizer": obj["pre_tokenizer"] = ["type": "Whitespace"]
        case "normalizer": obj["normalizer"] = ["type": "NFC"]
        case "wordpiece": model["type"] = "WordPiece"
        case "added token clash": obj["added_tokens"] = [["id": 5, "content": "<x>", "special": true]]
        default: Issue.record("unknown defect")
        }
        if defect != "no model" {
            model["vocab"] = defect == "no vocab" ? nil : vocab
            obj["model"] = model
        }
        let url = try writeJSON(obj)
        defer { try? FileManager.default.removeItem(at: url) }
        #expect(throws: ModelError.self) { _ = try Tokenizer(tokenizerJSON: url, tokenizerConfigJSON: nil) }
    }

    @Test func malformedListsThrow() {
        let tokens = (0..<256).map { ByteLevel.string(forByte: UInt8($0)) } + ["ab"]
        func make(_ t: [String], _ m: [String], types: [Int32]? = nil, bos: Int? = nil) throws {
            _ = try Tokenizer(tokens: t, merges: m, tokenTypes: types, preTokenizer: .gpt2, bosTokenId: bos,
                              eosTokenId: nil, unkTokenId: nil, padTokenId: nil, addBOS: bos != nil, addEOS: false,
                              chatTemplate: nil)
        }
        #expect(throws: Never.self) { try make(tokens, ["a b"]) }
        #expect(throws: ModelError.self) { try make([], []) }
        #expect(throws: ModelError.self) { try make(tokens + ["ab"], ["a b"]) }
        #expect(throws: ModelError.self) { try make(tokens, ["a"]) }
        #expect(throws: ModelError.self) { try make(tokens, ["a q9"]) }
        #expect(throws: ModelError.self) { try make(tokens, ["a b"], types: [1]) }
        #expect(throws: ModelError.self) { try make(tokens, ["a b"], bos: 9999) }
        #expect(throws: ModelError.self) {
            _ = try Tokenizer(tokenizerJSON: URL(fileURLWithPath: "/nonexistent/tokenizer.json"), tokenizerConfigJSON: nil)
        }
    }
}
