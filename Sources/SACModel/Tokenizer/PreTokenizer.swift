/// How text is cut into words before byte-level BPE. Each kind is a hand-written matcher for the
/// regular expression its tokenizer uses (Unicode classes from `Unicode.Scalar.Properties`).
public enum PreTokenizerKind: String, Sendable, CaseIterable {
    /// GPT-2: `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
    /// (Hugging Face `ByteLevel(use_regex=true)`).
    case gpt2
    /// SmolLM / StarCoder: every `\p{N}` scalar is its own piece (`Digits(individual_digits=true)`),
    /// then the GPT-2 expression runs on the text between digits (llama.cpp "smollm").
    case smollm
    /// Llama 3: `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
    /// ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+` (llama.cpp "llama-bpe").
    case llama3

    /// The kind for GGUF metadata `tokenizer.ggml.pre`: "gpt2"/"gpt-2"/"default"/"smollm" →
    /// `.gpt2`, "llama-bpe"/"llama3" → `.llama3`.
    ///
    /// "smollm" maps to `.gpt2` on purpose: the project's reference is Hugging Face transformers
    /// loading the GGUF (`AutoTokenizer.from_pretrained(dir, gguf_file:)`), whose converter builds
    /// a plain `ByteLevel(use_regex=true)` pre-tokenizer. A whitespace run before a number then
    /// splits as `\s+(?!\S)` sees it (`"\n\n2019"` → `\n`, `\n`, `2019`), not as after an
    /// isolating digit split (`\n\n`, `2`, …, what `.smollm`, llama.cpp and SmolLM2's original
    /// tokenizer.json do). SmolLM2's vocabulary has no multi-digit tokens, so digits still come
    /// out one per token. A tokenizer.json that asks for `Sequence[Digits, ByteLevel]` gets `.smollm`.
    /// - Throws: `ModelError.unsupported` for any other name.
    public init(ggufName: String, file: String = "gguf") throws {
        switch ggufName {
        case "gpt2", "gpt-2", "default", "smollm": self = .gpt2
        case "llama-bpe", "llama3", "llama-3": self = .llama3
        default:
            throw ModelError.unsupported(file: file, field: "tokenizer.ggml.pre", what: "pre-tokenizer '\(ggufName)'")
        }
    }

    /// Splits `text` into pieces (their concatenation is `text`). Convenience for tests and tools;
    /// the encoder uses the scalar-array form.
    public func split(_ text: String) -> [String] {
        let scalars = text.unicodeScalars.map(\.value)
        let classes = scalars.map { ScalarClass.of($0) }
        var ranges = [Range<Int>]()
        split(scalars: scalars, classes: classes, into: &ranges)
        return ranges.map { r in
            var v = String.UnicodeScalarView()
            for i in r { v.append(Unicode.Scalar(scalars[i])!) }
            return String(v)
        }
    }

    /// Appends to `out` the ranges (scalar indices) of the pieces of `scalars`;
    /// `classes[i] == ScalarClass.of(scalars[i])`.
    func split(scalars: [UInt32], classes: [UInt8], into out: inout [Range<Int>]) {
        precondition(scalars.count == classes.count)
        switch self {
        case .gpt2:
            PreTokenizerKind.splitGPT2(scalars, classes, 0, scalars.count, &out)
        case .llama3:
            PreTokenizerKind.splitLlama3(scalars, classes, 0, scalars.count, &out)
        case .smollm:
            var start = 0
            for i in 0..<scalars.count where classes[i] & ScalarClass.number != 0 {
                if start < i { PreTokenizerKind.splitGPT2(scalars, classes, start, i, &out) }
                out.append(i..<(i + 1))
                start = i + 1
            }
            if start < scalars.count { PreTokenizerKind.splitGPT2(scalars, classes, start, scalars.count, &out) }
        }
    }

    /// Length of an English contraction (`'s 't 're 've 'm 'll 'd`) starting at `i`, or 0.
    @inline(__always)
    static func contraction(_ s: [UInt32], _ i: Int, _ hi: Int, caseInsensitive: Bool) -> Int {
        guard s[i] == 0x27, i + 1 < hi else { return 0 }
        func low(_ v: UInt32) -> UInt32 {
            guard caseInsensitive else { return v }
            if v >= 0x41 && v <= 0x5A { return v + 32 }
            if v == 0x17F { return 0x73 }  // ſ folds to s
            return v
        }
        let a = low(s[i + 1])
        if a == 0x73 || a == 0x74 || a == 0x6D || a == 0x64 { return 2 }  // s t m d
        guard i + 2 < hi else { return 0 }
        let b = low(s[i + 2])
        if (a == 0x72 && b == 0x65) || (a == 0x76 && b == 0x65) || (a == 0x6C && b == 0x6C) { return 3 }  // re ve ll
        return 0
    }

    /// End of the whitespace run that starts at `i` and the piece `\s+(?!\S)|\s+` takes from it.
    @inline(__always)
    static func whitespaceEnd(_ c: [UInt8], _ i: Int, _ hi: Int) -> Int {
        var k = i
        while k < hi && c[k] & ScalarClass.space != 0 { k += 1 }
        if k == hi || k - i == 1 { return k }
        return k - 1
    }

    static func splitGPT2(_ s: [UInt32], _ c: [UInt8], _ lo: Int, _ hi: Int, _ out: inout [Range<Int>]) {
        var i = lo
        while i < hi {
            let n = contraction(s, i, hi, caseInsensitive: false)
            if n > 0 {
                out.append(i..<(i + n)); i += n; continue
            }
            var j = i
            if s[i] == 0x20 && i + 1 < hi && c[i + 1] & ScalarClass.space == 0 { j = i + 1 }
            let cj = c[j]
            var k = j + 1
            if cj & ScalarClass.letter != 0 {
                while k < hi && c[k] & ScalarClass.letter != 0 { k += 1 }
            } else if cj & ScalarClass.number != 0 {
                while k < hi && c[k] & ScalarClass.number != 0 { k += 1 }
            } else if cj == 0 {
                while k < hi && c[k] == 0 { k += 1 }
            } else {
                k = whitespaceEnd(c, i, hi)
            }
            out.append(i..<k)
            i = k
        }
    }

    static func splitLlama3(_ s: [UInt32], _ c: [UInt8], _ lo: Int, _ hi: Int, _ out: inout [Range<Int>]) {
        let L = ScalarClass.letter, N = ScalarClass.number, S = ScalarClass.space, NL = ScalarClass.newline
        var i = lo
        while i < hi {
            let n = contraction(s, i, hi, caseInsensitive: true)
            if n > 0 {
                out.append(i..<(i + n)); i += n; continue
            }
            let ci = c[i]
            var k = i + 1
            // [^\r\n\p{L}\p{N}]?\p{L}+
            if ci & L != 0 || (ci & (L | N | NL) == 0 && i + 1 < hi && c[i + 1] & L != 0) {
                if ci & L == 0 { k = i + 2 }
                while k < hi && c[k] & L != 0 { k += 1 }
            } else if ci & N != 0 {  // \p{N}{1,3}
                while k < hi && k < i + 3 && c[k] & N != 0 { k += 1 }
            } else if ci == 0 || (s[i] == 0x20 && i + 1 < hi && c[i + 1] == 0) {  //  ?[^\s\p{L}\p{N}]+[\r\n]*
                if ci != 0 { k = i + 2 }
                while k < hi && c[k] == 0 { k += 1 }
                while k < hi && c[k] & NL != 0 { k += 1 }
            } else {  // whitespace: \s*[\r\n]+ | \s+(?!\S) | \s+
                var e = i
                var lastNewline = -1
                while e < hi && c[e] & S != 0 {
                    if c[e] & NL != 0 { lastNewline = e }
                    e += 1
                }
                k = lastNewline >= 0 ? lastNewline + 1 : whitespaceEnd(c, i, hi)
            }
            out.append(i..<k)
            i = k
        }
    }
}
