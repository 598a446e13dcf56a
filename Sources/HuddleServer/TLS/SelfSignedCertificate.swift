import Crypto
import Foundation
import NIOSSL
import X509

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The certificate and key the daemon serves with (§8: `DIR/tls/cert.pem`, `DIR/tls/key.pem`).
public struct TLSFiles: Sendable, Equatable {
    public var certificatePath: String
    public var keyPath: String

    public init(certificatePath: String, keyPath: String) {
        self.certificatePath = certificatePath
        self.keyPath = keyPath
    }
}

public struct TLSSetupError: Error, CustomStringConvertible {
    public var path: String
    public var reason: String

    public var description: String { "TLS setup failed for \(path): \(reason)" }
}

extension TLSFiles {
    /// Returns the existing pair, or generates a self-signed one that is its own trust anchor.
    ///
    /// Why CA:TRUE: BoringSSL (NIOSSL's client) only treats a certificate as self-signed when its
    /// keyUsage allows keyCertSign, otherwise it looks for an issuer and fails; RFC 5280 allows
    /// keyCertSign only with cA set. OpenSSL and Python accept either form. pathlen 0 and name
    /// constraints limit what the key could sign to this server's own names, should `cert.pem`
    /// end up in a trust store and the key leak.
    public static func ensureSelfSigned(
        inDataDirectory dir: String,
        hostName: String
    ) throws -> (files: TLSFiles, created: Bool) {
        let tlsDir = (dir as NSString).appendingPathComponent("tls")
        let files = TLSFiles(
            certificatePath: (tlsDir as NSString).appendingPathComponent("cert.pem"),
            keyPath: (tlsDir as NSString).appendingPathComponent("key.pem")
        )
        let fm = FileManager.default
        if fm.fileExists(atPath: files.certificatePath) && fm.fileExists(atPath: files.keyPath) {
            return (files, false)
        }

        do {
            try fm.createDirectory(
                atPath: tlsDir,
                withIntermediateDirectories: true,
                attributes: [.posixPermissions: 0o700]
            )
        } catch {
            throw TLSSetupError(path: tlsDir, reason: "cannot create directory: \(error)")
        }

        let (certificatePEM, keyPEM) = try generate(hostName: hostName, now: Date())
        // Key first: a crash between the two renames leaves no cert.pem, so the next start
        // regenerates both instead of pairing a new certificate with a stale key.
        try writeAtomically(Array(keyPEM.utf8), to: files.keyPath, mode: 0o600)
        try writeAtomically(Array(certificatePEM.utf8), to: files.certificatePath, mode: 0o644)
        syncDirectory(tlsDir)
        return (files, true)
    }

    static func generate(hostName: String, now: Date) throws -> (certificatePEM: String, keyPEM: String) {
        let key = P256.Signing.PrivateKey()
        let publicKey = Certificate.PublicKey(key.publicKey)
        // DNS names compare case-insensitively and a trailing dot only marks them as absolute.
        var name = hostName.lowercased()
        while name.hasSuffix(".") { name.removeLast() }
        let subject = try DistinguishedName {
            CommonName("huddled \(name.isEmpty ? "localhost" : name)")
        }
        let keyID = SubjectKeyIdentifier(hash: publicKey)
        let extensions = try Certificate.Extensions {
            Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
            Critical(KeyUsage(digitalSignature: true, keyCertSign: true))
            try ExtendedKeyUsage([.serverAuth])
            keyID
            AuthorityKeyIdentifier(keyIdentifier: keyID.keyIdentifier)
            let names = subjectAlternativeNames(hostName: name)
            SubjectAlternativeNames(names)
            Critical(NameConstraints(permittedSubtrees: names.map(permittedSubtree), excludedSubtrees: []))
        }
        let certificate = try Certificate(
            version: .v3,
            serialNumber: randomSerialNumber(),
            publicKey: publicKey,
            // 825 days in all (an hour of it before now, for clocks a little behind): the most the
            // CA/Browser Forum allowed a TLS certificate before 2020, and what testssl.sh accepts.
            notValidBefore: now.addingTimeInterval(-3600),
            notValidAfter: now.addingTimeInterval(825 * 86400 - 3600),
            issuer: subject,
            subject: subject,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: extensions,
            issuerPrivateKey: Certificate.PrivateKey(key)
        )
        return (try certificate.serializeAsPEM().pemString + "\n", key.pemRepresentation + "\n")
    }

    static func subjectAlternativeNames(hostName: String) -> [GeneralName] {
        var names: [GeneralName] = [.dnsName("localhost")]
        // A host name that is not a plain DNS name (empty, an IP literal, odd characters) would
        // either duplicate an entry below or make the certificate unparseable for some verifiers.
        if hostName != "localhost", isPlainDNSName(hostName) {
            names.append(.dnsName(hostName))
        }
        names.append(.ipAddress(.init(contentBytes: [127, 0, 0, 1])))
        names.append(.ipAddress(.init(contentBytes: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1])))
        return names
    }

    /// An IP subtree is the address followed by its mask; a single-address mask keeps it exact.
    static func permittedSubtree(_ name: GeneralName) -> GeneralName {
        guard case .ipAddress(let address) = name else { return name }
        let mask = [UInt8](repeating: 0xFF, count: address.bytes.count)
        return .ipAddress(.init(contentBytes: ArraySlice(Array(address.bytes) + mask)))
    }

    static func isPlainDNSName(_ name: String) -> Bool {
        guard !name.isEmpty, name.utf8.count <= 253 else { return false }
        let allowed = name.utf8.allSatisfy { byte in
            (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z"))
                || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
                || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".")
        }
        let isNumericOnly = name.utf8.allSatisfy { ($0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9")) || $0 == UInt8(ascii: ".") }
        return allowed && !isNumericOnly && !name.hasPrefix(".") && !name.hasPrefix("-")
    }

    static func randomSerialNumber() -> Certificate.SerialNumber {
        var rng = SystemRandomNumberGenerator()
        var bytes = (0..<20).map { _ in UInt8.random(in: .min ... .max, using: &rng) }
        // Clear the sign bit so it stays positive, and keep the first byte non-zero so the DER
        // INTEGER is exactly 20 bytes (the RFC 5280 maximum).
        bytes[0] = (bytes[0] & 0x7F) | 0x01
        return Certificate.SerialNumber(bytes: bytes)
    }

    /// Writes through a temporary file so that readers never see a half-written file; the
    /// temporary file gets `mode` before any byte is written, so a key never exists world-readable.
    static func writeAtomically(_ bytes: [UInt8], to path: String, mode: mode_t) throws {
        let temporary = path + ".tmp-\(UUID().uuidString)"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else {
            throw TLSSetupError(path: temporary, reason: "cannot create file: \(errnoDescription())")
        }
        var closed = false
        defer {
            if !closed { close(fd) }
        }
        do {
            // The umask may have narrowed the mode at creation; cert.pem must stay readable (0644).
            guard fchmod(fd, mode) == 0 else {
                throw TLSSetupError(path: temporary, reason: "cannot set mode: \(errnoDescription())")
            }
            var offset = 0
            while offset < bytes.count {
                let written = bytes[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
                if written < 0 {
                    if errno == EINTR { continue }
                    throw TLSSetupError(path: temporary, reason: "write failed: \(errnoDescription())")
                }
                offset += written
            }
            guard fsync(fd) == 0 else {
                throw TLSSetupError(path: temporary, reason: "fsync failed: \(errnoDescription())")
            }
            closed = true
            guard close(fd) == 0 else {
                throw TLSSetupError(path: temporary, reason: "close failed: \(errnoDescription())")
            }
            guard rename(temporary, path) == 0 else {
                throw TLSSetupError(path: path, reason: "cannot rename into place: \(errnoDescription())")
            }
        } catch {
            unlink(temporary)
            throw error
        }
    }

    /// Makes the renames durable; best effort, since a lost rename only means regenerating.
    static func syncDirectory(_ path: String) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return }
        _ = fsync(fd)
        close(fd)
    }

    static func errnoDescription() -> String {
        String(cString: strerror(errno))
    }
}

extension TLSFiles {
    /// The SHA-256 fingerprint of the first certificate in a PEM file, in the format
    /// `openssl x509 -fingerprint -sha256` prints (without its `SHA256 Fingerprint=` prefix).
    public static func sha256Fingerprint(pemFile path: String) throws -> String {
        let certificates: [NIOSSLCertificate]
        do {
            certificates = try NIOSSLCertificate.fromPEMFile(path)
        } catch {
            throw TLSSetupError(path: path, reason: "cannot read a PEM certificate: \(error)")
        }
        guard let leaf = certificates.first else {
            throw TLSSetupError(path: path, reason: "no certificate in file")
        }
        do {
            return sha256Fingerprint(der: try leaf.toDERBytes())
        } catch {
            throw TLSSetupError(path: path, reason: "cannot encode certificate: \(error)")
        }
    }

    public static func sha256Fingerprint(der: [UInt8]) -> String {
        SHA256.hash(data: der).map { byte in
            let hex = String(byte, radix: 16, uppercase: true)
            return byte < 0x10 ? "0" + hex : hex
        }.joined(separator: ":")
    }

    public static func makeServerContext(_ files: TLSFiles) throws -> NIOSSLContext {
        let chain: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMFile(files.certificatePath)
        } catch {
            throw TLSSetupError(path: files.certificatePath, reason: "cannot read the certificate chain: \(error)")
        }
        guard !chain.isEmpty else {
            throw TLSSetupError(path: files.certificatePath, reason: "no certificate in file")
        }
        let key: NIOSSLPrivateKey
        do {
            key = try NIOSSLPrivateKey(file: files.keyPath, format: .pem)
        } catch {
            throw TLSSetupError(path: files.keyPath, reason: "cannot read the private key: \(error)")
        }
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) },
            privateKey: .privateKey(key)
        )
        configuration.minimumTLSVersion = .tlsv12
        // TLS 1.2 with forward secrecy and AEAD only, one suite per key type: BoringSSL's default
        // list also offers the CBC suites (testssl.sh: "average", LUCKY13-prone), and swift-nio-ssl
        // has no switch for the server's own order, so with one suite the client has no choice to
        // make badly. AES-128-GCM is the one every TLS 1.2 client has; TLS 1.3 keeps its own
        // (all AEAD). The RSA suite serves an operator's own RSA certificate.
        configuration.cipherSuiteValues = [.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, .TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256]
        do {
            return try NIOSSLContext(configuration: configuration)
        } catch {
            throw TLSSetupError(
                path: files.keyPath,
                reason: "key does not fit \(files.certificatePath) or is unusable: \(error)"
            )
        }
    }
}
