import Foundation

/// A local HTTPS partner: a Python 3 script (standard library only: `ssl` and `http.server`) run as a child
/// process on 127.0.0.1 with a kernel-chosen port. Every GET is answered 200 with a JSON object telling what
/// the partner saw: `{"sni": "partner.test", "client": "fanout-client", "host": "…", "path": "/x"}` (`sni` and
/// `client` are null when the client sent no server name or no certificate).
public final class TLSPartner: @unchecked Sendable {
    private let process = Process()
    private let scriptPath: String
    public let port: UInt16

    /// - Parameters:
    ///   - certificates: the server certificate and key; with `requireClientCertificate`, the CA that client
    ///     certificates must chain to.
    ///   - requireClientCertificate: mutual TLS: a handshake without a valid client certificate fails.
    /// - Throws: ``TestSupportError`` when the script cannot start or reports no port.
    public init(certificates: TestCertificates, requireClientCertificate: Bool = false) throws {
        scriptPath = certificates.directory + "/partner-\(UUID().uuidString).py"
        try Self.script.write(toFile: scriptPath, atomically: true, encoding: .utf8)
        let output = Pipe()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [
            "python3", scriptPath, certificates.serverCertificate, certificates.serverKey,
            certificates.caCertificate, requireClientCertificate ? "require" : "optional",
        ]
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        // The script prints its port once listening; EOF (it died) ends the read with no port.
        var line: [UInt8] = []
        while !line.contains(UInt8(ascii: "\n")) {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            line.append(contentsOf: chunk)
        }
        let text = String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard let port = UInt16(text) else {
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
            throw TestSupportError(kind: .malformed, call: "python3 partner", detail: "no port reported: '\(text)'")
        }
        self.port = port
    }

    deinit {
        // SIGKILL, not terminate(): the child inherits the test process's signal mask, in which fanout's
        // servers block SIGTERM (measured: the partner outlived SIGTERM and waitUntilExit hung).
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        try? FileManager.default.removeItem(atPath: scriptPath)
    }

    static let script = #"""
        import http.server, json, socket, ssl, sys

        cert, key, ca, mode = sys.argv[1:5]
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        context.load_verify_locations(ca)
        context.verify_mode = ssl.CERT_REQUIRED if mode == "require" else ssl.CERT_OPTIONAL

        def remember_server_name(sock, name, ctx):
            sock.fanout_sni = name

        context.sni_callback = remember_server_name

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                peer = self.connection.getpeercert()
                client = None
                if peer:
                    client = dict(pair[0] for pair in peer["subject"]).get("commonName")
                body = json.dumps({
                    "sni": getattr(self.connection, "fanout_sni", None),
                    "client": client,
                    "host": self.headers.get("Host"),
                    "path": self.path,
                }).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True

            # The handshake runs in the connection's thread. A failed one ends with a lingering close: closing
            # at once, with the client's bytes unread, sends a reset that can destroy the alert before the
            # client reads it.
            # `raw` (a second descriptor) keeps the connection open when the failed handshake closes its own.
            def finish_request(self, request, client_address):
                raw = request.dup()
                try:
                    connection = context.wrap_socket(request, server_side=True)
                except OSError:
                    try:
                        raw.shutdown(socket.SHUT_WR)
                        raw.settimeout(2)
                        while raw.recv(4096):
                            pass
                    except OSError:
                        pass
                    raw.close()
                    return
                raw.close()
                try:
                    self.RequestHandlerClass(connection, client_address, self)
                finally:
                    connection.close()

            def handle_error(self, request, client_address):
                pass

        server = Server(("127.0.0.1", 0), Handler)
        print(server.server_address[1], flush=True)
        server.serve_forever()
        """#
}
