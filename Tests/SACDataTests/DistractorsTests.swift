import Testing

@testable import SACData

@Suite struct DistractorsTests {
    static func set(_ paragraphs: Int, perParagraph: Int = 2) -> QAReadResult {
        var ex: [QAExample] = []
        for p in 0..<paragraphs {
            for q in 0..<perParagraph {
                ex.append(QAExample(context: "Paragraph \(p) says \(p * 7).", question: "Q\(p).\(q)?", answers: ["\(p * 7)"],
                                    id: "\(p)-\(q)", source: "t"))
            }
        }
        return QAReadResult(examples: ex, skipped: [], name: "T")
    }

    @Test func everyQuestionReadsItsParagraphAmongOthersAtEveryPosition() {
        let base = Self.set(10)
        let m = base.withDistractors(3, seed: 1)
        #expect(m.name == "T+3" && m.examples.count == base.examples.count)
        var positions = Set<Int>()
        for (i, (a, b)) in zip(base.examples, m.examples).enumerated() {
            #expect(b.question == a.question && b.answers == a.answers && b.id == a.id)
            let parts = b.context.components(separatedBy: "\n\n")
            #expect(parts.count == 4 && Set(parts).count == 4)
            #expect(parts[i % 4] == a.context)
            #expect(parts.filter { $0 == a.context }.count == 1)
            positions.insert(parts.firstIndex(of: a.context)!)
        }
        #expect(positions == [0, 1, 2, 3])
        // The same set on every call; another seed draws other paragraphs.
        #expect(base.withDistractors(3, seed: 1) == m)
        #expect(base.withDistractors(3, seed: 2) != m)
    }

    @Test func lastContextsKeepTheirQuestionsInOrder() {
        let base = Self.set(5, perParagraph: 3)
        let last = base.lastContexts(2)
        #expect(last.name == "T-last2")
        #expect(last.examples.map(\.id) == ["3-0", "3-1", "3-2", "4-0", "4-1", "4-2"])
        #expect(base.lastContexts(10).examples == base.examples)
    }

    @Test func spreadTakesOneQuestionPerContextEvenlyThroughTheFile() {
        let base = Self.set(10, perParagraph: 3)
        let s = base.spread(4)
        #expect(s.name == "T-spread4")
        // Contexts 0, 2, 5, 7 of 10 (⌊i·10/4⌋), the first question of each.
        #expect(s.examples.map(\.id) == ["0-0", "2-0", "5-0", "7-0"])
        #expect(Set(s.examples.map(\.context)).count == 4)
        // More asked than there are contexts: the first question of every context.
        #expect(base.spread(20).examples.map(\.id) == (0..<10).map { "\($0)-0" })
    }

    @Test func fewParagraphsUseAllTheOthers() {
        let m = Self.set(2).withDistractors(3)
        for e in m.examples { #expect(e.context.components(separatedBy: "\n\n").count == 2) }
        let one = Self.set(1).withDistractors(3)
        #expect(one.examples.map(\.context) == Self.set(1).examples.map(\.context))
    }
}
