import Foundation

/// A WebSocket partner over TLS: a Python 3 script (standard library only: `ssl`, `hashlib`, `base64`) run as
/// a child process on 127.0.0.1 with a kernel-chosen port, like ``TLSPartner``. It answers the opening
/// handshake with a real `Sec-WebSocket-Accept` and echoes every frame back unmasked; at the client's EOF it
/// closes.
public final class TLSWebSocketPartner: @unchecked Sendable {
    private let process = Process()
    private let scriptPath: String
    public let port: UInt16

    /// - Throws: ``TestSupportError`` when the script cannot start or reports no port.
    public init(certificates: TestCertificates) throws {
        scriptPath = certificates.directory + "/ws-partner-\(UUID().uuidString).py"
        try Self.script.write(toFile: scriptPath, atomically: true, encoding: .utf8)
        let output = Pipe()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", scriptPath, certificates.serverCertificate, certificates.serverKey]
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
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
            throw TestSupportError(kind: .malformed, call: "python3 ws partner", detail: "no port reported: '\(text)'")
        }
        self.port = port
    }

    deinit {
        // SIGKILL: see TLSPartner (the child inherits a signal mask that blocks SIGTERM).
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        try? FileManager.default.removeItem(atPath: scriptPath)
    }

    static let script = #"""
        import base64, hashlib, socket, ssl, sys, threading

        cert, key = sys.argv[1:3]
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

        def fill(conn, buf, n):
            while len(buf) < n:
                chunk = conn.recv(65536)
                if not chunk:
                    raise EOFError()
                buf += chunk
            return buf

        def serve(raw):
            try:
                conn = context.wrap_socket(raw, server_side=True)
            except OSError:
                raw.close()
                return
            try:
                buf = b""
                while b"\r\n\r\n" not in buf:
                    buf = fill(conn, buf, len(buf) + 1)
                head, _, buf = buf.partition(b"\r\n\r\n")
                key = ""
                for line in head.decode().split("\r\n")[1:]:
                    name, _, value = line.partition(":")
                    if name.strip().lower() == "sec-websocket-key":
                        key = value.strip()
                accept = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
                conn.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                              "Sec-WebSocket-Accept: %s\r\n\r\n" % accept).encode())
                while True:
                    if not buf:
                        chunk = conn.recv(65536)
                        if not chunk:
                            break
                        buf = chunk
                    buf = fill(conn, buf, 2)
                    opcode, length, at = buf[0] & 0x0F, buf[1] & 0x7F, 2
                    if length == 126:
                        buf = fill(conn, buf, 4)
                        length, at = int.from_bytes(buf[2:4], "big"), 4
                    elif length == 127:
                        buf = fill(conn, buf, 10)
                        length, at = int.from_bytes(buf[2:10], "big"), 10
                    mask = None
                    if buf[1] & 0x80:
                        buf = fill(conn, buf, at + 4)
                        mask, at = buf[at:at + 4], at + 4
                    buf = fill(conn, buf, at + length)
                    payload = bytearray(buf[at:at + length])
                    buf = buf[at + length:]
                    if mask:
                        for i in range(len(payload)):
                            payload[i] ^= mask[i % 4]
                    if length < 126:
                        header = bytes([0x80 | opcode, length])
                    elif length <= 0xFFFF:
                        header = bytes([0x80 | opcode, 126]) + length.to_bytes(2, "big")
                    else:
                        header = bytes([0x80 | opcode, 127]) + length.to_bytes(8, "big")
                    conn.sendall(header + bytes(payload))
            except (OSError, EOFError):
                pass
            finally:
                conn.close()

        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        print(listener.getsockname()[1], flush=True)
        while True:
            raw, _ = listener.accept()
            threading.Thread(target=serve, args=(raw,), daemon=True).start()
        """#
}
