import Testing
@testable import SACStore

@Suite struct SHA256Tests {
    @Test func nistVectors() {
        #expect(SHA256.hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(SHA256.hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        #expect(SHA256.hex("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu")
                == "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1")
        #expect(SHA256.hex([UInt8](repeating: 0x61, count: 1_000_000))
                == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
        #expect(SHA256.hex("héllo wörld ✓") == SHA256.hex(Array("héllo wörld ✓".utf8)))
    }

    /// Every padding boundary, and the message fed in pieces of every size, give the one-shot digest.
    @Test func incrementalEqualsOneShot() {
        let message = (0..<300).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        for n in [0, 1, 55, 56, 57, 63, 64, 65, 119, 120, 128, 300] {
            let whole = SHA256.hex(message[0..<n])
            for piece in [1, 3, 63, 64, 65] {
                var h = SHA256()
                var i = 0
                while i < n { h.update(message[i..<min(n, i + piece)]); i += piece }
                #expect(SHA256.hexString(h.finalize()) == whole, "length \(n), pieces of \(piece)")
            }
        }
    }
}
