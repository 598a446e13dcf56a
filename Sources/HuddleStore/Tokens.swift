import Crypto

/// Bearer tokens: `hdl_<key>_<secret>`. The key is a public lookup id; only SHA-256 of the secret
/// is stored, and it is compared in constant time, so neither the database nor the timing of a
/// refusal tells anything about a valid secret. The wallboard's display keys (`hdd_`) and
/// browser sessions (`hds_`) are made the same way, with their own prefix so that none can be
/// taken for another.
public enum Tokens {
    public static let userPrefix = "hdl"
    public static let displayPrefix = "hdd"
    public static let boardSessionPrefix = "hds"

    public struct Issued: Sendable {
        public var token: String
        public var key: String
        public var hash: [UInt8]
    }

    public static func issue(prefix: String = userPrefix) -> Issued {
        var generator = SystemRandomNumberGenerator()
        let key = hex((0..<6).map { _ in UInt8.random(in: .min ... .max, using: &generator) })
        let secret = hex((0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) })
        return Issued(token: "\(prefix)_\(key)_\(secret)", key: key, hash: hash(secret))
    }

    /// Splits a presented token into its key and the hash of its secret.
    public static func parse(_ token: String, prefix: String = userPrefix) -> (key: String, hash: [UInt8])? {
        let parts = token.split(separator: "_", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == prefix, parts[1].utf8.count == 12, parts[2].utf8.count == 64 else {
            return nil
        }
        return (String(parts[1]), hash(String(parts[2])))
    }

    static func hash(_ secret: String) -> [UInt8] {
        Array(SHA256.hash(data: Array(secret.utf8)))
    }

    public static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for i in 0..<a.count { difference |= a[i] ^ b[i] }
        return difference == 0
    }

    public static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
