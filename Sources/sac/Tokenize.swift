import ArgumentParser
import Foundation
import SACModel

struct Tokenize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print token ids as JSON arrays.",
        discussion: """
            With --text, prints one JSON array. With --jsonl FILE, reads one JSON string per line \
            and prints one JSON array per line (the model is loaded once).
            """)

    @OptionGroup var modelOptions: ModelOptions
    @Option(help: "The text to tokenize.") var text: String?
    @Option(help: "A file with one JSON string per line.") var jsonl: String?
    @Flag(help: "Do not add the BOS/EOS tokens the model's tokenizer would add.") var noSpecialTokens = false

    func validate() throws {
        if (text == nil) == (jsonl == nil) { throw ValidationError("give exactly one of --text and --jsonl") }
    }

    func run() throws {
        let tokenizer = try ModelLoader.loadTokenizer(path: modelOptions.model)
        func line(_ ids: [Int32]) -> String { "[" + ids.map(String.init).joined(separator: ",") + "]" }
        if let text {
            print(line(tokenizer.encode(text, addSpecialTokens: !noSpecialTokens)))
            return
        }
        let path = jsonl!
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ValidationError("cannot read \(path)")
        }
        guard let content = String(data: data, encoding: .utf8) else {
            throw ValidationError("\(path): not UTF-8 text")
        }
        var out = ""
        for (n, raw) in content.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            if raw.allSatisfy(\.isWhitespace) { continue }
            guard let value = try? JSONSerialization.jsonObject(with: Data(raw.utf8), options: [.fragmentsAllowed]),
                let s = value as? String
            else {
                throw ValidationError("\(path):\(n + 1): expected one JSON string per line")
            }
            out += line(tokenizer.encode(s, addSpecialTokens: !noSpecialTokens)) + "\n"
            if out.utf8.count > 1 << 16 { stdoutWrite(out); out = "" }
        }
        stdoutWrite(out)
    }
}
