import Testing

@testable import HuddleProtocol

@Suite struct JSONCodecTests {
    @Test func parsesAndWritesSortedCompact() throws {
        let value = try JSONParser.parse(#" { "b" : [1, 2.5, true, null], "a" : "x\"y" } "#)
        #expect(String(decoding: JSONWriter.encode(value), as: UTF8.self) == #"{"a":"x\"y","b":[1,2.5,true,null]}"#)
    }

    @Test func integersStayIntegers() throws {
        #expect(try JSONParser.parse("9007199254740993") == .int(9_007_199_254_740_993))
        #expect(try JSONParser.parse("-0") == .int(0))
        #expect(try JSONParser.parse("1e2") == .double(100))
        #expect(try JSONParser.parse("1.5E-1") == .double(0.15))
    }

    @Test func writesIntegersAtTheirEdges() {
        for value: Int64 in [0, 7, -7, 10, -10, 1_795_425_302_120, .max, .min] {
            #expect(JSONWriter.encode(.int(value)) == Array(String(value).utf8))
        }
        #expect(JSONWriter.encode(["on": true, "off": false, "none": .null]) == Array(#"{"none":null,"off":false,"on":true}"#.utf8))
    }

    @Test func unicodeEscapesAndSurrogatePairs() throws {
        #expect(try JSONParser.parse(#""\u00e9\ud83d\ude00\n""#) == .string("é😀\n"))
        #expect(throws: JSONParseError.self) { try JSONParser.parse(#""\ud83d""#) }
        #expect(throws: JSONParseError.self) { try JSONParser.parse(#""\ude00x""#) }
    }

    @Test(arguments: [
        "", "{", "}", "[1,]", "{\"a\":1,}", "{a:1}", "'x'", "01", "1.", ".5", "-", "tru", "nul", "\"abc",
        "\"a\tb\"", "{\"a\" 1}", "[1 2]", "1 2", "\"\\x\"", "NaN", "Infinity", "1e999",
    ])
    func rejectsMalformed(_ text: String) {
        #expect(throws: JSONParseError.self) { try JSONParser.parse(text) }
    }

    @Test func rejectsInvalidUTF8() {
        #expect(throws: JSONParseError.self) { try JSONParser.parse([0x22, 0xFF, 0xFE, 0x22]) }
        #expect(throws: JSONParseError.self) { try JSONParser.parse([0x22, 0xC0, 0xAF, 0x22]) }  // overlong '/'
        #expect(throws: JSONParseError.self) { try JSONParser.parse([0x22, 0xED, 0xA0, 0x80, 0x22]) }  // surrogate
    }

    @Test func limitsNesting() throws {
        let deep = String(repeating: "[", count: 65) + String(repeating: "]", count: 65)
        #expect(throws: JSONParseError.self) { try JSONParser.parse(deep) }
        let fine = String(repeating: "[", count: 64) + String(repeating: "]", count: 64)
        _ = try JSONParser.parse(fine)
    }

    @Test func writerEscapesControlCharacters() {
        let encoded = JSONWriter.encode(.string("a\u{01}\u{7F}\r\t\\"))
        #expect(String(decoding: encoded, as: UTF8.self) == #""a\u0001\u007f\r\t\\""#)
    }

    @Test func roundTripsEveryKind() throws {
        let value: JSONValue = ["s": "é \"q\"", "i": -42, "d": 0.8, "b": false, "n": nil, "a": [1, ["x": []]]]
        #expect(try JSONParser.parse(JSONWriter.encode(value)) == value)
    }
}

extension JSONCodecTests {
    /// Found by the request fuzzer: `0.0` is written back as `0`, which reads as an integer. JSON
    /// has one kind of number, so that is the right output; the round trip holds numerically.
    @Test func integralDoublesAreWrittenAsIntegers() throws {
        let value = try JSONParser.parse("0.0")
        #expect(value == .double(0))
        #expect(String(decoding: JSONWriter.encode(value), as: UTF8.self) == "0")
        #expect(try JSONParser.parse(JSONWriter.encode(value)).doubleValue == 0)
        #expect(String(decoding: JSONWriter.encode(.double(-2e20)), as: UTF8.self) == "-2e+20")
    }

    /// Found by RequestFuzzer: a request whose params hold integral doubles (7777e7) re-encodes
    /// them as integers. The same numbers come back, as JSON has only one kind; a param read as an
    /// integer accepts both spellings.
    @Test func requestParamsKeepTheirNumbersThroughARoundTrip() throws {
        let line = Array(#"{"id":0,"jsonrpc":"2.0","method":"policy.set","params":{"a":7777e7,"b":77e77,"c":777177,"d":0.5}}"#.utf8)
        guard case .success(let request) = RPCRequest.decode(line) else { Issue.record("did not decode"); return }
        guard case .success(let again) = RPCRequest.decode(request.encoded()) else { Issue.record("no round trip"); return }
        #expect(String(decoding: JSONWriter.encode(again.params.object["a"] ?? .null), as: UTF8.self) == "77770000000")
        #expect(again.params.object["a"]?.doubleValue == 7.777e10)
        #expect(again.params.object["b"]?.doubleValue == 7.7e78)
        #expect(again.params.object["c"] == .int(777177) && again.params.object["d"] == .double(0.5))
        #expect(try Params(again.params.object).int("a", in: 0...Int64.max) == 77_770_000_000)
        #expect(try Params(request.params.object).int("a", in: 0...Int64.max) == 77_770_000_000)
    }
}
