/// One extractive question-answering example: a question about a context with gold answers.
public struct QAExample: Sendable, Equatable {
    /// The passage the question is about.
    public var context: String
    /// The question.
    public var question: String
    /// The gold answers, never empty when read by `MRQAReader` or `SQuADReader`; metrics of the
    /// paper use `answers[0]`.
    public var answers: [String]
    /// A stable identifier (the data set's question id when it has one).
    public var id: String
    /// The data set's name, e.g. "SQuAD" or "DROP".
    public var source: String

    /// Creates an example from its fields.
    public init(context: String, question: String, answers: [String], id: String, source: String) {
        self.context = context
        self.question = question
        self.answers = answers
        self.id = id
        self.source = source
    }
}

/// An input line (or entry) that was not turned into examples, and why.
public struct SkippedLine: Sendable, Equatable, CustomStringConvertible {
    /// The 1-based line number in a JSONL file; 0 for inputs that are not line-based (SQuAD JSON).
    public var line: Int
    /// What was wrong, naming the field.
    public var reason: String

    /// Creates a record of a skipped line.
    public init(line: Int, reason: String) {
        self.line = line
        self.reason = reason
    }

    public var description: String { line > 0 ? "line \(line): \(reason)" : reason }
}

/// A run of consecutive examples that share one context.
public struct QAContextGroup: Sendable, Equatable {
    /// The shared context.
    public var context: String
    /// The indices of its examples in `QAReadResult.examples`.
    public var range: Range<Int>

    /// Creates a group.
    public init(context: String, range: Range<Int>) {
        self.context = context
        self.range = range
    }
}

/// The examples read from one file, the entries skipped, and the data set's name.
public struct QAReadResult: Sendable, Equatable {
    /// The examples, in file order, one per question.
    public var examples: [QAExample]
    /// The lines or entries that yielded no example, with reasons.
    public var skipped: [SkippedLine]
    /// The file name without `.jsonl`, `.jsonl.gz` or `.json`, e.g. "SQuAD-dev".
    public var name: String

    /// Creates a result.
    public init(examples: [QAExample], skipped: [SkippedLine], name: String) {
        self.examples = examples
        self.skipped = skipped
        self.name = name
    }

    /// The examples grouped into maximal runs of consecutive examples with the same context,
    /// so that each context can be compressed once and all its questions asked of it.
    public var contexts: [QAContextGroup] {
        var groups: [QAContextGroup] = []
        var start = 0
        for i in examples.indices where i + 1 == examples.count || examples[i + 1].context != examples[i].context {
            groups.append(QAContextGroup(context: examples[i].context, range: start..<(i + 1)))
            start = i + 1
        }
        return groups
    }
}
