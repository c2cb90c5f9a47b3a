import Foundation

/// A local HTTP/2-only partner: Debian's `nghttpd` (nghttp2-server) as a child process on 127.0.0.1, serving
/// the files given from a temporary directory over TLS, offering only `h2` by ALPN, or in cleartext (h2c with
/// prior knowledge: a client must speak HTTP/2 from its first byte).
public final class HTTP2Partner: @unchecked Sendable {
    private let process = Process()
    private let directory: String
    public let port: UInt16

    /// Debian installs `nghttpd` in /usr/sbin, which is not on a non-root user's PATH: the PATH first, then the
    /// sbin directories.
    static func nghttpdPath() throws -> String {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        let directories = path.split(separator: ":").map(String.init) + ["/usr/local/sbin", "/usr/sbin", "/sbin"]
        for directory in directories where FileManager.default.isExecutableFile(atPath: directory + "/nghttpd") {
            return directory + "/nghttpd"
        }
        throw TestSupportError(
            kind: .system(errno: ENOENT), call: "nghttpd",
            detail: "not found on PATH nor in /usr/sbin: install nghttp2-server")
    }

    /// - Parameters:
    ///   - files: file name → contents, served as `/NAME` (`.json` files as `application/json`).
    ///   - certificates: the server certificate and key it serves with; nil: cleartext HTTP/2 with prior
    ///     knowledge (h2c, `nghttpd --no-tls`).
    /// - Throws: ``TestSupportError`` when nghttpd cannot start or does not accept connections within 5 s.
    public init(files: [String: String], certificates: TestCertificates?) throws {
        directory = NSTemporaryDirectory() + "fanout-h2-\(getpid())-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for (name, contents) in files {
            try contents.write(toFile: directory + "/" + name, atomically: true, encoding: .utf8)
        }
        // nghttpd does not report a kernel-chosen port: a port free a moment ago, then wait until it accepts.
        port = try freeTCPPort()
        process.executableURL = URL(fileURLWithPath: try Self.nghttpdPath())
        process.arguments =
            ["--address=127.0.0.1", "--htdocs=\(directory)"]
            + (certificates.map { ["\(port)", $0.serverKey, $0.serverCertificate] } ?? ["--no-tls", "\(port)"])
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let deadline = ContinuousClock.now + .seconds(5)
        while true {
            if let fd = try? TCPSocket.connect(host: "127.0.0.1", port: port, timeoutMs: 200) {
                TCPSocket.close(fd)
                return
            }
            if !process.isRunning || ContinuousClock.now >= deadline {
                if process.isRunning { kill(process.processIdentifier, SIGKILL) }
                process.waitUntilExit()
                throw TestSupportError(kind: .timedOut, call: "nghttpd", detail: "not accepting on port \(port)")
            }
            usleep(20_000)
        }
    }

    deinit {
        // SIGKILL, not terminate(): the child inherits the test process's signal mask, in which fanout's
        // servers block SIGTERM (measured: the partner outlived SIGTERM and waitUntilExit hung).
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        try? FileManager.default.removeItem(atPath: directory)
    }
}
