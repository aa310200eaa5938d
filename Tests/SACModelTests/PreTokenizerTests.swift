import Testing
@testable import SACModel

@Suite struct PreTokenizerTests {
    @Test func gpt2Pieces() {
        let k = PreTokenizerKind.gpt2
        #expect(k.split("Hello, world!") == ["Hello", ",", " world", "!"])
        #expect(k.split("don't  x") == ["don", "'t", " ", " x"])
        #expect(k.split("a\t\tb  ") == ["a", "\t", "\t", "b", "  "])
        #expect(k.split("x ?'s 12ab") == ["x", " ?'", "s", " 12", "ab"])
        #expect(k.split("   \n\n\n   \t  ") == ["   \n\n\n   \t  "])
        #expect(k.split("") == [])
    }

    @Test func smollmIsolatesDigits() {
        #expect(PreTokenizerKind.smollm.split("a  12 b") == ["a", "  ", "1", "2", " b"])
        #expect(PreTokenizerKind.gpt2.split("a  12 b") == ["a", " ", " 12", " b"])
        #expect(PreTokenizerKind.smollm.split("x²٣") == ["x", "²", "٣"])
    }

    @Test func llama3Pieces() {
        let k = PreTokenizerKind.llama3
        #expect(k.split("I'M 12345 (ok)\n\n  x") == ["I", "'M", " ", "123", "45", " (", "ok", ")\n\n", " ", " x"])
        #expect(k.split("a \n b") == ["a", " \n", " b"])
    }

    @Test(arguments: ["The quick brown fox's 3.14 jumps!!  \n\t over\u{00A0}the lazy dog 😀 日本語 Ωμέγα \r\n",
                      "", " ", "'", "''ll", "\n", "12\u{0663}\u{00BD}"])
    func piecesConcatenateToInput(text: String) {
        for kind in PreTokenizerKind.allCases {
            let pieces = kind.split(text)
            #expect(pieces.joined() == text)
            #expect(!pieces.contains(""))
        }
    }

    @Test func ggufNames() throws {
        #expect(try PreTokenizerKind(ggufName: "smollm") == .gpt2)  // what transformers builds from a GGUF
        #expect(try PreTokenizerKind(ggufName: "gpt2") == .gpt2)
        #expect(try PreTokenizerKind(ggufName: "default") == .gpt2)
        #expect(try PreTokenizerKind(ggufName: "llama-bpe") == .llama3)
        #expect(throws: ModelError.self) { _ = try PreTokenizerKind(ggufName: "qwen2") }
    }

    @Test func scalarClasses() {
        #expect(ScalarClass.of(0x41) == ScalarClass.letter)
        #expect(ScalarClass.of(0x4E2D) == ScalarClass.letter)  // 中
        #expect(ScalarClass.of(0x0663) == ScalarClass.number)  // Arabic-Indic 3
        #expect(ScalarClass.of(0x0A) == ScalarClass.space | ScalarClass.newline)
        #expect(ScalarClass.of(0x3000) == ScalarClass.space)
        #expect(ScalarClass.of(0x200B) == 0)  // zero-width space is not White_Space
        #expect(ScalarClass.of(0x0301) == 0)  // combining accent (Mn)
    }
}
