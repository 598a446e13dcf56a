import FuzzSupport
import HuddleProtocol

/// The policy decoder (`policy.set`'s merge) under arbitrary JSON. Invariants: no crash; an
/// accepted patch gives a policy whose wire form decodes back to itself; a refusal is -32602
/// naming a `policy.` path.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPolicy(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    guard let value = try? JSONParser.parse(bytes), case .object(let patch) = value else { return 0 }
    do {
        let policy = try Policy().merging(patch)
        let decoded = try Policy.decode(policy.json)
        FuzzCheck.require(decoded == policy, "policy did not survive its wire form")
    } catch {
        FuzzCheck.require(error.code == .invalidParams, "a refusal that is not -32602")
        FuzzCheck.require(error.data?["param"]?.stringValue?.hasPrefix("policy") == true, "a refusal without a path")
    }
    return 0
}

#if !FUZZING
@main
enum Replay {
    static func main() { CorpusReplay.run(fuzzPolicy) }
}
#endif
