import Testing

@testable import HuddleProtocol

@Suite struct TextAndTimeTests {
    @Test func formatsRFC3339WithMilliseconds() {
        #expect(Timestamp(milliseconds: 0).rfc3339 == "1970-01-01T00:00:00.000Z")
        #expect(Timestamp(milliseconds: 1_795_425_302_120).rfc3339 == "2026-11-23T09:15:02.120Z")
        #expect(Timestamp(milliseconds: 951_782_400_001).rfc3339 == "2000-02-29T00:00:00.001Z")
        #expect(Timestamp(milliseconds: -1).rfc3339 == "1969-12-31T23:59:59.999Z")
        #expect(Timestamp(milliseconds: 253_402_300_799_999).rfc3339 == "9999-12-31T23:59:59.999Z")
    }

    @Test func parsesRFC3339() {
        #expect(Timestamp(rfc3339: "2026-11-23T09:15:02.120Z")?.milliseconds == 1_795_425_302_120)
        #expect(Timestamp(rfc3339: "2026-11-23T10:15:02.12+01:00")?.milliseconds == 1_795_425_302_120)
        #expect(Timestamp(rfc3339: "2026-11-23T09:15:02Z")?.milliseconds == 1_795_425_302_000)
        #expect(Timestamp(rfc3339: "2026-13-23T09:15:02Z") == nil)
        #expect(Timestamp(rfc3339: "2026-02-31T00:00:00Z") == nil)
        #expect(Timestamp(rfc3339: "2024-02-29T00:00:00Z") != nil)
        #expect(Timestamp(rfc3339: "yesterday") == nil)
        #expect(Timestamp(rfc3339: "2026-11-23T09:15:02") == nil)
    }

    @Test func acceptsOrdinaryNotes() throws {
        #expect(try TextRules.check("15, be right back ☕", param: "note", maxScalars: 140, allowEmpty: true) == "15, be right back ☕")
        #expect(try TextRules.check("", param: "note", maxScalars: 140, allowEmpty: true) == "")
    }

    @Test(arguments: ["a\u{1B}[31mred", "line\nbreak", "tab\there", "rtl \u{202E}evil", "iso\u{2066}x", "del\u{7F}", "c1\u{85}"])
    func refusesControlAndBidiCharacters(_ text: String) {
        #expect(throws: RPCError.self) { try TextRules.check(text, param: "note", maxScalars: 140, allowEmpty: true) }
        #expect(!TextRules.sanitizedForTerminal(text).unicodeScalars.contains { TextRules.isForbidden($0) })
    }

    @Test func countsUnicodeScalars() throws {
        let exactly = String(repeating: "é", count: 140)
        _ = try TextRules.check(exactly, param: "note", maxScalars: 140, allowEmpty: true)
        #expect(throws: RPCError.self) {
            try TextRules.check(exactly + "x", param: "note", maxScalars: 140, allowEmpty: true)
        }
        #expect(throws: RPCError.self) { try TextRules.check("   ", param: "text", maxScalars: 500, allowEmpty: false) }
    }
}
