import Testing
@testable import SACModel

@Suite struct ModelErrorTests {
    @Test func messagesNameFileAndField() {
        let e = ModelError.invalidField(file: "m.gguf", field: "general.architecture", expected: "string", found: "u32")
        #expect(e.description.contains("m.gguf") && e.description.contains("general.architecture"))
    }
}
