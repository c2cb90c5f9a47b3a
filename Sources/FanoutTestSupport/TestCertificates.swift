import Foundation

/// A throwaway PKI made with the `openssl` command at test time, in its own temporary directory (removed on
/// deinit): a CA, a server certificate for `partner.test` and `127.0.0.1` signed by it, and a client
/// certificate (`CN=fanout-client`) signed by it. Keys are unencrypted P-256 keys; every file is PEM.
public final class TestCertificates: @unchecked Sendable {
    /// The directory holding every file.
    public let directory: String
    public var caCertificate: String { directory + "/ca.pem" }
    public var serverCertificate: String { directory + "/server.pem" }
    public var serverKey: String { directory + "/server.key" }
    public var clientCertificate: String { directory + "/client.pem" }
    public var clientKey: String { directory + "/client.key" }
    /// The client certificate's subject common name.
    public static let clientCommonName = "fanout-client"
    /// The DNS name in the server certificate (with IP 127.0.0.1).
    public static let serverName = "partner.test"

    /// - Throws: ``TestSupportError`` naming the openssl step that failed.
    public init() throws {
        directory = NSTemporaryDirectory() + "fanout-pki-\(getpid())-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        try openssl(
            ["req", "-x509"] + ec + [
                "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=fanout test CA",
                "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            ])
        try issue(
            name: "server", subject: "/CN=\(Self.serverName)",
            extensions: "subjectAltName=DNS:\(Self.serverName),IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
            keyOptions: ec)
        try issue(
            name: "client", subject: "/CN=\(Self.clientCommonName)", extensions: "extendedKeyUsage=clientAuth\n",
            keyOptions: ec)
    }

    deinit {
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// A key, a request and a certificate signed by the CA: NAME.key, NAME.pem.
    private func issue(name: String, subject: String, extensions: String, keyOptions: [String]) throws {
        let extensionFile = directory + "/\(name).ext"
        try extensions.write(toFile: extensionFile, atomically: true, encoding: .utf8)
        try openssl(["req"] + keyOptions + ["-keyout", "\(name).key", "-out", "\(name).csr", "-subj", subject])
        try openssl([
            "x509", "-req", "-in", "\(name).csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "\(name).pem", "-days", "2", "-extfile", extensionFile,
        ])
    }

    /// Runs `openssl ARGUMENTS` in ``directory`` and waits for it (always: an unreaped Process leaks).
    private func openssl(_ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["openssl"] + arguments
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw TestSupportError(
                kind: .malformed, call: "openssl \(arguments[0])",
                detail: "exit status \(process.terminationStatus) for openssl \(arguments.joined(separator: " "))")
        }
    }
}
