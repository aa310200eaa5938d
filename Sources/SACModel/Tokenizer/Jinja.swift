/// Values, lexer, parser and evaluator of the Jinja subset behind `ChatTemplate`.
enum JinjaValue: Sendable, Equatable {
    case string(String), int(Int), bool(Bool), list([JinjaValue]), dict([String: JinjaValue]), none

    var truthy: Bool {
        switch self {
        case .string(let s): return !s.isEmpty
        case .int(let i): return i != 0
        case .bool(let b): return b
        case .list(let l): return !l.isEmpty
        case .dict(let d): return !d.isEmpty
        case .none: return false
        }
    }

    var text: String {
        switch self {
        case .string(let s): return s
        case .int(let i): return String(i)
        case .bool(let b): return b ? "True" : "False"
        case .none: return ""
        case .list, .dict: return "\(self)"
        }
    }
}

func jinjaUnsupported(_ what: String) -> ModelError {
    .unsupported(file: "chat_template", field: "template", what: what)
}

enum JinjaToken: Equatable {
    case text(String)
    case output([String])     // words of {{ … }}
    case statement([String])  // words of {% … %}
}

enum JinjaLexer {
    /// Splits the template into text and tags, applying `-` whitespace control.
    static func lex(_ src: String) throws -> [JinjaToken] {
        var out = [JinjaToken]()
        let s = Array(src.unicodeScalars)
        var i = 0
        var text = String.UnicodeScalarView()
        var trimNext = false
        func flush(trimEnd: Bool) {
            var t = String(text)
            if trimNext { t = String(t.drop { $0.isWhitespace }) }
            if trimEnd { while let l = t.last, l.isWhitespace { t.removeLast() } }
            if !t.isEmpty { out.append(.text(t)) }
            text = String.UnicodeScalarView()
        }
        while i < s.count {
            if s[i] == "{", i + 1 < s.count, s[i + 1] == "{" || s[i + 1] == "%" || s[i + 1] == "#" {
                let kind = s[i + 1]
                let close: Unicode.Scalar = kind == "{" ? "}" : (kind == "%" ? "%" : "#")
                var j = i + 2
                let trimBefore = j < s.count && s[j] == "-"
                if trimBefore { j += 1 }
                var end = -1
                var k = j
                while k + 1 < s.count {
                    if s[k] == close && s[k + 1] == "}" { end = k; break }
                    k += 1
                }
                guard end >= 0 else { throw jinjaUnsupported("unterminated tag") }
                var bodyEnd = end
                let trimAfter = bodyEnd > j && s[bodyEnd - 1] == "-"
                if trimAfter { bodyEnd -= 1 }
                flush(trimEnd: trimBefore)
                var body = String.UnicodeScalarView(); body.append(contentsOf: s[j..<bodyEnd])
                if kind == "{" { out.append(.output(try words(String(body)))) }
                if kind == "%" { out.append(.statement(try words(String(body)))) }
                trimNext = trimAfter
                i = end + 2
            } else {
                text.append(s[i]); i += 1
            }
        }
        flush(trimEnd: false)
        return out
    }

    /// Expression words: string literals (kept with their opening quote), numbers, names, operators.
    static func words(_ body: String) throws -> [String] {
        var out = [String]()
        let s = Array(body.unicodeScalars)
        var i = 0
        while i < s.count {
            let c = s[i]
            if c.properties.isWhitespace { i += 1; continue }
            if c == "'" || c == "\"" {
                var lit = String.UnicodeScalarView(); lit.append("'")
                i += 1
                while i < s.count && s[i] != c {
                    if s[i] == "\\" && i + 1 < s.count {
                        i += 1
                        switch s[i] {
                        case "n": lit.append("\n")
                        case "t": lit.append("\t")
                        case "r": lit.append("\r")
                        default: lit.append(s[i])
                        }
                    } else {
                        lit.append(s[i])
                    }
                    i += 1
                }
                guard i < s.count else { throw jinjaUnsupported("unterminated string literal") }
                i += 1
                out.append(String(lit))
            } else if c.properties.isAlphabetic || c == "_" || ("0"..."9").contains(c) {
                var w = String.UnicodeScalarView()
                while i < s.count && (s[i].properties.isAlphabetic || s[i] == "_" || ("0"..."9").contains(s[i])) {
                    w.append(s[i]); i += 1
                }
                out.append(String(w))
            } else if (c == "=" || c == "!") && i + 1 < s.count && s[i + 1] == "=" {
                out.append(c == "=" ? "==" : "!="); i += 2
            } else if "[].()+-~".unicodeScalars.contains(c) {
                out.append(String(Character(c))); i += 1
            } else {
                throw jinjaUnsupported("operator '\(Character(c))'")
            }
        }
        return out
    }
}

indirect enum JinjaExpr: Sendable {
    case literal(JinjaValue)
    case variable(String)
    case index(JinjaExpr, JinjaExpr)
    case concat(JinjaExpr, JinjaExpr)
    case equal(JinjaExpr, JinjaExpr, negated: Bool)
    case and(JinjaExpr, JinjaExpr), or(JinjaExpr, JinjaExpr), not(JinjaExpr)
    case negate(JinjaExpr)

    func eval(_ env: [String: JinjaValue]) throws -> JinjaValue {
        switch self {
        case .literal(let v): return v
        case .variable(let n): return env[n] ?? .none
        case .index(let b, let k):
            let base = try b.eval(env), key = try k.eval(env)
            switch (base, key) {
            case (.list(let l), .int(let i)):
                let j = i < 0 ? l.count + i : i
                return j >= 0 && j < l.count ? l[j] : .none
            case (.dict(let d), .string(let s)): return d[s] ?? .none
            default: return .none
            }
        case .concat(let a, let b): return .string(try a.eval(env).text + b.eval(env).text)
        case .equal(let a, let b, let neg): return .bool((try a.eval(env) == b.eval(env)) != neg)
        case .and(let a, let b): return .bool(try a.eval(env).truthy && b.eval(env).truthy)
        case .or(let a, let b): return .bool(try a.eval(env).truthy || b.eval(env).truthy)
        case .not(let a): return .bool(!(try a.eval(env).truthy))
        case .negate(let a):
            guard case .int(let i) = try a.eval(env) else { throw jinjaUnsupported("negation of a non-integer") }
            return .int(-i)
        }
    }
}

indirect enum JinjaNode: Sendable {
    case text(String)
    case output(JinjaExpr)
    case forLoop(variable: String, iterable: JinjaExpr, body: [JinjaNode])
    case conditional([(JinjaExpr, [JinjaNode])], otherwise: [JinjaNode])

    static func run(_ nodes: [JinjaNode], _ env: inout [String: JinjaValue], _ out: inout String) throws {
        for node in nodes {
            switch node {
            case .text(let t): out += t
            case .output(let e): out += try e.eval(env).text
            case .conditional(let branches, let otherwise):
                var done = false
                for (cond, body) in branches {
                    if try cond.eval(env).truthy { try run(body, &env, &out); done = true; break }
                }
                if !done { try run(otherwise, &env, &out) }
            case .forLoop(let v, let iterable, let body):
                guard case .list(let items) = try iterable.eval(env) else { continue }
                let saved = (env[v], env["loop"])
                for (i, item) in items.enumerated() {
                    env[v] = item
                    env["loop"] = .dict(["first": .bool(i == 0), "last": .bool(i == items.count - 1),
                                         "index": .int(i + 1), "index0": .int(i), "length": .int(items.count)])
                    try run(body, &env, &out)
                }
                env[v] = saved.0; env["loop"] = saved.1
            }
        }
    }
}

struct JinjaParser {
    let tokens: [JinjaToken]
    var pos = 0
    /// Names an expression may use; loop variables are added while parsing their body.
    var names: Set<String> = ["messages", "add_generation_prompt", "bos_token", "eos_token"]

    init(tokens: [JinjaToken]) { self.tokens = tokens }

    /// Parses nodes until a statement whose first word is in `until` (left unconsumed).
    mutating func parseBlock(until: Set<String>) throws -> [JinjaNode] {
        var nodes = [JinjaNode]()
        while pos < tokens.count {
            switch tokens[pos] {
            case .text(let t): nodes.append(.text(t)); pos += 1
            case .output(let w): nodes.append(.output(try expression(w))); pos += 1
            case .statement(let w):
                guard let head = w.first else { throw jinjaUnsupported("empty statement") }
                if until.contains(head) { return nodes }
                pos += 1
                switch head {
                case "for":
                    guard w.count >= 4, w[2] == "in", w[1].first?.isLetter == true else {
                        throw jinjaUnsupported("for statement '\(w.joined(separator: " "))'")
                    }
                    let iterable = try expression(Array(w[3...]))
                    let had = names.contains(w[1])
                    names.insert(w[1]); names.insert("loop")
                    let body = try parseBlock(until: ["endfor"])
                    if !had { names.remove(w[1]) }
                    try expectEnd("endfor")
                    nodes.append(.forLoop(variable: w[1], iterable: iterable, body: body))
                case "if":
                    var branches = [(try expression(Array(w[1...])), try parseBlock(until: ["elif", "else", "endif"]))]
                    var otherwise = [JinjaNode]()
                    while pos < tokens.count, case .statement(let s) = tokens[pos], s.first != "endif" {
                        pos += 1
                        if s.first == "elif" {
                            branches.append((try expression(Array(s[1...])), try parseBlock(until: ["elif", "else", "endif"])))
                        } else {
                            guard s == ["else"] else { throw jinjaUnsupported("statement '\(s.joined(separator: " "))'") }
                            otherwise = try parseBlock(until: ["endif"])
                        }
                    }
                    try expectEnd("endif")
                    nodes.append(.conditional(branches, otherwise: otherwise))
                default:
                    throw jinjaUnsupported("statement '\(head)'")
                }
            }
        }
        if !until.isEmpty { throw jinjaUnsupported("missing {% \(until.sorted().joined(separator: "/")) %}") }
        return nodes
    }

    mutating func expectEnd(_ word: String) throws {
        guard pos < tokens.count, case .statement(let s) = tokens[pos], s == [word] else {
            throw jinjaUnsupported("missing {% \(word) %}")
        }
        pos += 1
    }

    func expression(_ words: [String]) throws -> JinjaExpr {
        var p = JinjaExprParser(words: words, names: names)
        let e = try p.or()
        guard p.i == words.count else { throw jinjaUnsupported("expression '\(words.joined(separator: " "))'") }
        return e
    }
}

struct JinjaExprParser {
    let words: [String]
    let names: Set<String>
    var i = 0

    init(words: [String], names: Set<String>) { self.words = words; self.names = names }

    var peek: String? { i < words.count ? words[i] : nil }

    mutating func or() throws -> JinjaExpr {
        var e = try and()
        while peek == "or" { i += 1; e = .or(e, try and()) }
        return e
    }
    mutating func and() throws -> JinjaExpr {
        var e = try not()
        while peek == "and" { i += 1; e = .and(e, try not()) }
        return e
    }
    mutating func not() throws -> JinjaExpr {
        if peek == "not" { i += 1; return .not(try not()) }
        let a = try concat()
        if peek == "==" || peek == "!=" {
            let neg = peek == "!="
            i += 1
            return .equal(a, try concat(), negated: neg)
        }
        return a
    }
    mutating func concat() throws -> JinjaExpr {
        var e = try postfix()
        while peek == "+" || peek == "~" { i += 1; e = .concat(e, try postfix()) }
        return e
    }
    mutating func postfix() throws -> JinjaExpr {
        var e = try primary()
        while let p = peek {
            if p == "[" {
                i += 1
                let k = try or()
                guard peek == "]" else { throw jinjaUnsupported("expected ']'") }
                i += 1
                e = .index(e, k)
            } else if p == ".", i + 1 < words.count, words[i + 1].first?.isLetter == true {
                e = .index(e, .literal(.string(words[i + 1]))); i += 2
            } else {
                break
            }
        }
        return e
    }
    mutating func primary() throws -> JinjaExpr {
        guard let w = peek else { throw jinjaUnsupported("incomplete expression") }
        i += 1
        if w.hasPrefix("'") { return .literal(.string(String(w.dropFirst()))) }
        if w == "(" {
            let e = try or()
            guard peek == ")" else { throw jinjaUnsupported("expected ')'") }
            i += 1
            return e
        }
        if w == "-" { return .negate(try primary()) }
        if let n = Int(w) { return .literal(.int(n)) }
        if w == "true" || w == "True" { return .literal(.bool(true)) }
        if w == "false" || w == "False" { return .literal(.bool(false)) }
        if w == "none" || w == "None" { return .literal(.none) }
        guard names.contains(w) else { throw jinjaUnsupported("name '\(w)'") }
        if peek == "(" { throw jinjaUnsupported("call of '\(w)'") }
        return .variable(w)
    }
}
