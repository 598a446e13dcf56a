import Crypto
import Foundation
import NIOCore
import NIOSSL

/// How the client decides to trust the server (§7, §8: `--ca FILE`, `--fingerprint SHA256`).
public enum TLSTrust: Sendable, Equatable {
    /// Normal chain and host-name verification against this CA file (e.g. the daemon's `cert.pem`).
    case caFile(String)
    /// Accept exactly the leaf certificate with this SHA-256 fingerprint, whatever its names.
    case fingerprint(String)
    /// Trust-on-first-use probe: accept any certificate and record its fingerprint.
    case captureFingerprint
    case plaintext
}

/// The server presented a certificate other than the pinned one.
public struct CertificateMismatch: Error, CustomStringConvertible, Equatable {
    public var expected: String
    public var presented: String

    public init(expected: String, presented: String) {
        self.expected = expected
        self.presented = presented
    }

    public var description: String {
        "the server presented certificate SHA256 \(presented), but the pinned fingerprint is \(expected)"
    }
}

public struct TLSTrustError: Error, CustomStringConvertible {
    public var description: String

    public init(_ description: String) {
        self.description = description
    }
}

/// What the server showed during the handshake. Written on the event loop by the verification
/// callback and read from elsewhere (e.g. a `huddle login` prompt), hence the lock.
public final class PresentedCertificate: @unchecked Sendable {
    private let lock = NSLock()
    private var _fingerprint: String?
    private var _mismatch: CertificateMismatch?

    public init() {}

    /// SHA-256 of the leaf certificate's DER, in the `AA:BB:…` form; nil before the handshake
    /// (or in `.caFile` mode, where NIOSSL verifies without calling back).
    public var fingerprint: String? {
        lock.withLock { _fingerprint }
    }

    /// Set when the handshake was refused because of a pin mismatch.
    public var mismatch: CertificateMismatch? {
        lock.withLock { _mismatch }
    }

    /// NIOSSL reports a refused certificate as a generic handshake failure; this turns it back
    /// into the `CertificateMismatch` that caused it, and leaves other errors alone.
    public func explain(_ error: any Error) -> any Error {
        mismatch ?? error
    }

    func record(fingerprint: String, mismatch: CertificateMismatch?) {
        lock.withLock {
            _fingerprint = fingerprint
            _mismatch = mismatch
        }
    }
}

/// A TLS handler plus where it records what the server presented.
public struct ClientTLS {
    public let handler: NIOSSLClientHandler
    public let presented: PresentedCertificate
}

extension TLSTrust {
    public static func sha256Fingerprint(der: [UInt8]) -> String {
        SHA256.hash(data: der).map { byte in
            let hex = String(byte, radix: 16, uppercase: true)
            return byte < 0x10 ? "0" + hex : hex
        }.joined(separator: ":")
    }

    /// Canonical form of a user-supplied pin: uppercase hex pairs joined by ':'. Accepts an
    /// optional `SHA256:` prefix, any case, with or without colons; nil if it is not 32 bytes of hex.
    public static func normalizedFingerprint(_ pin: String) -> String? {
        var text = pin.trimmingCharacters(in: .whitespacesAndNewlines)
        if text.uppercased().hasPrefix("SHA256:") {
            text = String(text.dropFirst("SHA256:".count))
        }
        let hex = text.uppercased().filter { $0 != ":" }
        guard hex.count == 64, hex.allSatisfy({ $0.isHexDigit && $0.isASCII }) else { return nil }
        var pairs: [String] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            pairs.append(String(hex[index..<next]))
            index = next
        }
        return pairs.joined(separator: ":")
    }

    /// Builds the TLS handler for one connection; nil for `.plaintext`.
    ///
    /// `serverHostname` is what the user typed as the host. An IP literal must not go into SNI,
    /// so it is passed to NIOSSL as nil; NIOSSL then matches the certificate's IP SANs against
    /// the connected peer address, which is that same IP.
    public func makeClientHandler(serverHostname: String?) throws -> ClientTLS? {
        let sniName = Self.sniName(for: serverHostname)
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        let presented = PresentedCertificate()

        switch self {
        case .plaintext:
            return nil
        case .caFile(let path):
            guard FileManager.default.isReadableFile(atPath: path) else {
                throw TLSTrustError("cannot read CA file \(path)")
            }
            configuration.trustRoots = .file(path)
            configuration.certificateVerification = .fullVerification
            let context: NIOSSLContext
            do {
                context = try NIOSSLContext(configuration: configuration)
            } catch {
                throw TLSTrustError("cannot load CA file \(path): \(error)")
            }
            return ClientTLS(handler: try NIOSSLClientHandler(context: context, serverHostname: sniName), presented: presented)
        case .fingerprint(let pin):
            guard let expected = Self.normalizedFingerprint(pin) else {
                throw TLSTrustError("not a SHA-256 fingerprint: \(pin)")
            }
            return try Self.pinningHandler(configuration, sniName: sniName, presented: presented, expected: expected)
        case .captureFingerprint:
            return try Self.pinningHandler(configuration, sniName: sniName, presented: presented, expected: nil)
        }
    }

    /// Adds the TLS handler and, behind it, a handler that reports pin mismatches as
    /// `CertificateMismatch` instead of NIOSSL's generic handshake error. Call on the event loop.
    public func addHandlers(
        to pipeline: ChannelPipeline.SynchronousOperations,
        serverHostname: String?
    ) throws -> PresentedCertificate? {
        guard let tls = try makeClientHandler(serverHostname: serverHostname) else { return nil }
        try pipeline.addHandler(tls.handler)
        try pipeline.addHandler(MismatchReportingHandler(presented: tls.presented))
        return tls.presented
    }

    private static func pinningHandler(
        _ base: TLSConfiguration,
        sniName: String?,
        presented: PresentedCertificate,
        expected: String?
    ) throws -> ClientTLS {
        var configuration = base
        // The pin replaces chain and name checks entirely; an empty trust store keeps the
        // system bundle (and its absence) out of it.
        configuration.trustRoots = .certificates([])
        configuration.certificateVerification = .noHostnameVerification
        let context = try NIOSSLContext(configuration: configuration)
        let handler = try NIOSSLClientHandler(context: context, serverHostname: sniName) { chain, promise in
            guard let leaf = chain.first, let der = try? leaf.toDERBytes() else {
                promise.succeed(.failed)
                return
            }
            let actual = sha256Fingerprint(der: der)
            let mismatch = expected.flatMap { $0 == actual ? nil : CertificateMismatch(expected: $0, presented: actual) }
            presented.record(fingerprint: actual, mismatch: mismatch)
            promise.succeed(mismatch == nil ? .certificateVerified : .failed)
        }
        return ClientTLS(handler: handler, presented: presented)
    }

    static func sniName(for host: String?) -> String? {
        guard var host, !host.isEmpty else { return nil }
        if host.hasPrefix("[") && host.hasSuffix("]") {
            host = String(host.dropFirst().dropLast())
        }
        if (try? SocketAddress(ipAddress: host, port: 0)) != nil {
            return nil
        }
        return host
    }
}

/// Sits right after the TLS handler so that everything further down the pipeline (and any
/// `NIOAsyncChannel` iterator) sees `CertificateMismatch` for a refused pin.
final class MismatchReportingHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer

    private let presented: PresentedCertificate

    init(presented: PresentedCertificate) {
        self.presented = presented
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.fireErrorCaught(presented.explain(error))
    }
}
