import Testing

@testable import HuddleProtocol

@Suite struct RPCMessageTests {
    func decode(_ text: String) -> Result<RPCRequest, RPCRequest.Failure> {
        RPCRequest.decode(Array(text.utf8))
    }

    @Test func decodesARequest() throws {
        let request = try decode(#"{"jsonrpc":"2.0","id":7,"method":"status.set","params":{"status":"break"}}"#).get()
        #expect(request.id == .int(7))
        #expect(request.method == "status.set")
        #expect(request.params["status"] == "break")
    }

    @Test func absentParamsAreEmpty() throws {
        let request = try decode(#"{"jsonrpc":"2.0","id":"a","method":"session.ping"}"#).get()
        #expect(request.id == .string("a"))
        #expect(request.params.object.isEmpty)
    }

    @Test(arguments: [
        (#"{"jsonrpc":"2.0","id":1,"#, ErrorCode.parseError, false),
        (#"[1,2]"#, .invalidRequest, false),
        (#"{"jsonrpc":"1.0","id":1,"method":"x"}"#, .invalidRequest, true),
        (#"{"jsonrpc":"2.0","id":1,"method":5}"#, .invalidRequest, true),
        (#"{"jsonrpc":"2.0","method":"x"}"#, .invalidRequest, false),
        (#"{"jsonrpc":"2.0","id":{},"method":"x"}"#, .invalidRequest, false),
        (#"{"jsonrpc":"2.0","id":1,"method":"x","params":[1]}"#, .invalidParams, true),
    ])
    func refusesWithTheRightCode(_ text: String, _ code: ErrorCode, _ keepsID: Bool) {
        guard case .failure(let failure) = decode(text) else {
            Issue.record("accepted \(text)")
            return
        }
        #expect(failure.error.code == code)
        #expect((failure.id != nil) == keepsID)
    }

    @Test func encodesAnswersByteForByte() {
        let result = RPCFrame.result(id: .int(1), ["b": 1, "a": "x"])
        #expect(String(decoding: result, as: UTF8.self) == "{\"id\":1,\"jsonrpc\":\"2.0\",\"result\":{\"a\":\"x\",\"b\":1}}\n")
        let error = RPCFrame.error(id: nil, .invalidParam("team", "team is required"))
        #expect(
            String(decoding: error, as: UTF8.self)
                == "{\"error\":{\"code\":-32602,\"data\":{\"param\":\"team\"},\"message\":\"team is required\"},\"id\":null,\"jsonrpc\":\"2.0\"}\n"
        )
    }

    @Test func paramsNameTheOffendingParam() {
        let params = Params(["n": "x", "s": 5])
        #expect(throws: RPCError.invalidParam("n", "n must be an integer")) { try params.int("n", in: 0...9) }
        #expect(throws: RPCError.invalidParam("s", "s must be a string")) { try params.string("s") }
        #expect(throws: RPCError.invalidParam("t", "t is required")) { try params.string("t") }
    }

    @Test func serverMessagesDecode() throws {
        let event = try ServerMessage.decode(Array(#"{"jsonrpc":"2.0","method":"event","params":{"seq":3}}"#.utf8))
        guard case .notification(let method, let params) = event else { throw RPCError.internalError }
        #expect(method == "event")
        #expect(params["seq"] == 3)
    }
}
