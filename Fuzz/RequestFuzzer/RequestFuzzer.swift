import FuzzSupport
import HuddleProtocol

/// The JSON parser and the JSON-RPC request decoder under arbitrary lines. Invariants: no crash;
/// whatever parses re-encodes to JSON that parses to the same value; a decoded request
/// re-encodes and decodes to the same request.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRequests(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let line = Array(UnsafeBufferPointer(start: data, count: size))
    if let value = try? JSONParser.parse(line) {
        let again = try? JSONParser.parse(JSONWriter.encode(value))
        // JSON has one kind of number: 0.0 is written as 0 and reads back as an integer.
        FuzzCheck.require(again.map(numeric) == numeric(value), "JSON did not survive a round trip")
    }
    if case .success(let request) = RPCRequest.decode(line) {
        guard case .success(let again) = RPCRequest.decode(request.encoded()) else {
            FuzzCheck.fail("a decoded request did not decode again")
        }
        FuzzCheck.require(again.id == request.id && again.method == request.method, "request changed in a round trip")
        // Numbers compared as JSON has them (one kind): 7777e7 is written 77770000000 and reads
        // back as an integer (the input that found this is a unit test and a seed).
        FuzzCheck.require(
            numeric(.object(again.params.object)) == numeric(.object(request.params.object)), "params changed in a round trip")
    }
    return 0
}

/// Integral doubles as integers, so that equal numbers compare equal.
func numeric(_ value: JSONValue) -> JSONValue {
    switch value {
    case .double(let d) where d == d.rounded() && abs(d) < 1e15: return .int(Int64(d))
    case .array(let a): return .array(a.map(numeric))
    case .object(let o): return .object(o.mapValues(numeric))
    default: return value
    }
}

#if !FUZZING
@main
enum Replay {
    static func main() { CorpusReplay.run(fuzzRequests) }
}
#endif
