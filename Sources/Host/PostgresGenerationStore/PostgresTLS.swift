import GenerationStore
import NIOSSL
import PostgresNIO

/// libpq's `sslmode` and its certificate parameters, as NIOSSL settings.
///
/// | sslmode | TLS | NIOSSL `certificateVerification` |
/// |---|---|---|
/// | `disable` | never | - |
/// | `require` (default) | always, no plaintext fallback | `.none`; with `sslrootcert`, `.noHostnameVerification` (as libpq) |
/// | `verify-ca` | always | `.noHostnameVerification`: chain to `sslrootcert` or the system store |
/// | `verify-full` | always | `.fullVerification`: chain, and the URL's host in the certificate |
///
/// `prefer` and `allow` are refused: both connect in plaintext to a server
/// (or a man in the middle) that declines TLS, and nothing tells anyone.
enum PostgresTLS {
    struct Files {
        var rootCertificate: String?
        var certificate: String?
        var key: String?
    }

    /// `mode` and the pairing of `sslcert` with `sslkey` are checked already
    /// (`PostgresURL`); this reads the files.
    static func make(mode: SSLMode, files: Files) throws(StoreError) -> PostgresConnection.Configuration.TLS {
        let verification: CertificateVerification
        switch mode {
        case .disable: return .disable
        case .require: verification = files.rootCertificate == nil ? .none : .noHostnameVerification
        case .verifyCA: verification = .noHostnameVerification
        case .verifyFull: verification = .fullVerification
        }
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        configuration.certificateVerification = verification
        if let root = files.rootCertificate {
            configuration.trustRoots = .certificates(try certificates(root, "sslrootcert"))
        }
        if let certificate = files.certificate, let key = files.key {
            configuration.certificateChain = try certificates(certificate, "sslcert").map { .certificate($0) }
            do {
                configuration.privateKey = .privateKey(try NIOSSLPrivateKey(file: key, format: .pem))
            } catch {
                throw .invalidArgument("sslkey '\(key)': cannot read a PEM private key (\(error))")
            }
        }
        do {
            return .require(try NIOSSLContext(configuration: configuration))
        } catch {
            throw .invalidArgument("cannot set up TLS for the fleet ledger: \(error)")
        }
    }

    private static func certificates(_ path: String, _ parameter: String) throws(StoreError) -> [NIOSSLCertificate] {
        let found: [NIOSSLCertificate]
        do {
            found = try NIOSSLCertificate.fromPEMFile(path)
        } catch {
            throw .invalidArgument("\(parameter) '\(path)': cannot read PEM certificates (\(error))")
        }
        guard !found.isEmpty else { throw .invalidArgument("\(parameter) '\(path)' holds no PEM certificate") }
        return found
    }
}
