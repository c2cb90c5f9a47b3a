import Foundation
import Glibc

/// A WebSocket partner (RFC 6455) for tunnel tests: it answers the opening handshake with a real
/// `Sec-WebSocket-Accept` and echoes every data frame back (unmasked, as a server sends). A close frame is
/// answered with a close frame; the client's FIN is answered with the partner's own (a half-close passes
/// both ways).
///
/// - A target starting with `/refuse` is answered `403` with a small body instead of 101.
/// - A target starting with `/silent` completes the handshake and then echoes nothing (for idle timeouts).
/// - A target starting with `/stall` completes the handshake and then reads nothing (for back-pressure).
///
/// Blocking sockets on its own threads, one per connection, like ``StreamingUpstream``.
public final class WebSocketEchoPartner: @unchecked Sendable {
    // @unchecked: mutable state is guarded by `condition`.
    private let condition = NSCondition()
    private var listener: CInt
    private var connections: Set<CInt> = []
    private var stopped = false
    private var liveThreads = 0
    private var heads: [String] = []
    private var closedConnections = 0
    public let port: UInt16

    public static let acceptGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

    public init() throws {
        listener = try TCPSocket.makeLoopbackListener(listening: true)
        port = try TCPSocket.localPort(listener)
        startThread { [self] in acceptLoop() }
    }

    deinit { stop() }

    public var baseURL: String { "http://127.0.0.1:\(port)" }

    /// The request heads received, in order (the request line and header lines, CRLF-separated).
    public var receivedHeads: [String] { locked { heads } }

    /// Connections that ended (the partner saw EOF or an error and closed its socket).
    public var connectionsClosed: Int { locked { closedConnections } }

    /// Waits until `count` connections ended, at most `timeoutMs`.
    public func waitForClosedConnections(_ count: Int, timeoutMs: Int = 5_000) -> Bool {
        let deadline = Date().addingTimeInterval(Double(timeoutMs) / 1_000)
        condition.lock()
        defer { condition.unlock() }
        while closedConnections < count {
            if !condition.wait(until: deadline) { return closedConnections >= count }
        }
        return true
    }

    /// `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key` (RFC 6455 §4.2.2): base64 of SHA-1 of key + GUID.
    public static func acceptValue(forKey key: String) -> String {
        Data(SHA1.digest(Array((key + acceptGUID).utf8))).base64EncodedString()
    }

    public func stop() {
        locked {
            guard !stopped else { return }
            stopped = true
            TCPSocket.shutdown(listener)
            for fd in connections { TCPSocket.shutdown(fd) }
        }
        condition.broadcast()
        let deadline = Date().addingTimeInterval(2)
        condition.lock()
        while liveThreads > 0 && Date() < deadline { _ = condition.wait(until: deadline) }
        condition.unlock()
    }

    private func locked<T>(_ body: () -> T) -> T {
        condition.lock()
        defer { condition.unlock() }
        return body()
    }

    private func startThread(_ body: @escaping @Sendable () -> Void) {
        locked { liveThreads += 1 }
        let thread = Thread { [self] in
            body()
            locked { liveThreads -= 1 }
            condition.broadcast()
        }
        thread.start()
    }

    private func acceptLoop() {
        while true {
            guard let fd = try? TCPSocket.accept(listener) else { break }
            let accepted = locked { () -> Bool in
                if stopped { return false }
                connections.insert(fd)
                return true
            }
            guard accepted else {
                TCPSocket.close(fd)
                break
            }
            startThread { [self] in
                try? serve(fd)
                locked {
                    connections.remove(fd)
                    TCPSocket.close(fd)
                    closedConnections += 1
                }
                condition.broadcast()
            }
        }
        locked {
            TCPSocket.close(listener)
            listener = -1
        }
    }

    private func serve(_ fd: CInt) throws {
        let reader = SocketReader(fd: fd)
        var lines: [String] = []
        while let line = try reader.readLine(limit: 16 * 1024, call: "websocket partner") {
            if line.isEmpty { break }
            lines.append(String(decoding: line, as: UTF8.self))
        }
        guard let requestLine = lines.first else { return }
        locked { heads.append(lines.joined(separator: "\r\n")) }
        let target = requestLine.split(separator: " ").dropFirst().first.map(String.init) ?? "/"
        if target.hasPrefix("/refuse") {
            try TCPSocket.sendAll(
                fd,
                Array(
                    "HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 9\r\nX-Partner: ws\r\n\r\nforbidden"
                        .utf8))
            return
        }
        let key =
            lines.dropFirst().first { $0.lowercased().hasPrefix("sec-websocket-key:") }
            .map { String($0.dropFirst("sec-websocket-key:".count)).trimmingCharacters(in: .whitespaces) } ?? ""
        try TCPSocket.sendAll(
            fd,
            Array(
                ("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    + "Sec-WebSocket-Accept: \(Self.acceptValue(forKey: key))\r\n\r\n").utf8))
        if target.hasPrefix("/stall") {
            // Reads nothing more: what the client sends piles up until back-pressure stops it.
            while !locked({ stopped }) { usleep(20_000) }
            return
        }
        let silent = target.hasPrefix("/silent")
        while let frame = try WebSocketFrame.read(from: reader) {
            if silent { continue }
            if frame.opcode == 0x8 {
                try TCPSocket.sendAll(fd, WebSocketFrame(opcode: 0x8, payload: frame.payload).encoded(mask: nil))
                continue
            }
            try TCPSocket.sendAll(fd, WebSocketFrame(opcode: frame.opcode, payload: frame.payload).encoded(mask: nil))
        }
        // The client's FIN came through the tunnel: answer with ours.
        TCPSocket.shutdown(fd, how: Int32(SHUT_WR))
    }
}

/// One WebSocket frame (FIN set, no extensions).
public struct WebSocketFrame: Equatable, Sendable {
    public var opcode: UInt8
    public var payload: [UInt8]

    public init(opcode: UInt8, payload: [UInt8]) {
        self.opcode = opcode
        self.payload = payload
    }

    public static func text(_ text: String) -> WebSocketFrame { WebSocketFrame(opcode: 0x1, payload: Array(text.utf8)) }

    /// The frame on the wire; a client masks with a 4-byte key (RFC 6455 §5.3), a server does not.
    public func encoded(mask: [UInt8]?) -> [UInt8] {
        var bytes: [UInt8] = [0x80 | opcode]
        let maskBit: UInt8 = mask == nil ? 0 : 0x80
        if payload.count < 126 {
            bytes.append(maskBit | UInt8(payload.count))
        } else if payload.count <= 0xFFFF {
            bytes.append(maskBit | 126)
            bytes += [UInt8(payload.count >> 8), UInt8(payload.count & 0xFF)]
        } else {
            bytes.append(maskBit | 127)
            for shift in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8((payload.count >> shift) & 0xFF)) }
        }
        if let mask {
            bytes += mask
            bytes += payload.enumerated().map { $0.element ^ mask[$0.offset % 4] }
        } else {
            bytes += payload
        }
        return bytes
    }

    /// Reads one frame (unmasking it); nil at a clean EOF before a frame.
    static func read(from reader: SocketReader) throws -> WebSocketFrame? {
        if reader.bufferedCount == 0, try !reader.fill() { return nil }
        let first = try reader.readExactly(2, call: "websocket frame")
        var length = Int(first[1] & 0x7F)
        if length == 126 {
            let ext = try reader.readExactly(2, call: "websocket frame")
            length = Int(ext[0]) << 8 | Int(ext[1])
        } else if length == 127 {
            length = try reader.readExactly(8, call: "websocket frame").reduce(0) { $0 << 8 | Int($1) }
        }
        let mask = first[1] & 0x80 != 0 ? try reader.readExactly(4, call: "websocket frame") : nil
        var payload = try reader.readExactly(length, call: "websocket frame")
        if let mask { for index in payload.indices { payload[index] ^= mask[index % 4] } }
        return WebSocketFrame(opcode: first[0] & 0x0F, payload: payload)
    }
}

/// A WebSocket client over a blocking socket: the opening handshake (checking `Sec-WebSocket-Accept`), masked
/// frames out, frames in, and a half-close.
public final class WebSocketClient {
    private let fd: CInt
    private let reader: SocketReader
    /// The handshake answer's head (status line and header lines).
    public private(set) var answerHead = ""
    public private(set) var status = 0

    /// Connects and sends the opening handshake for `path`; reads the answer head. `status` is 101 when the
    /// partner switched and its `Sec-WebSocket-Accept` matched the key.
    public init(port: UInt16, path: String, extraHeaders: [String] = [], timeoutMs: Int = 5_000) throws {
        fd = try TCPSocket.connect(host: "127.0.0.1", port: port, timeoutMs: timeoutMs)
        reader = SocketReader(fd: fd)
        let key = Data((0..<16).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
        var head = "GET \(path) HTTP/1.1\r\nHost: fanout.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        head += "Sec-WebSocket-Key: \(key)\r\nSec-WebSocket-Version: 13\r\n"
        for line in extraHeaders { head += line + "\r\n" }
        try TCPSocket.sendAll(fd, Array((head + "\r\n").utf8))
        var lines: [String] = []
        while let line = try reader.readLine(limit: 16 * 1024, call: "websocket client") {
            if line.isEmpty { break }
            lines.append(String(decoding: line, as: UTF8.self))
        }
        answerHead = lines.joined(separator: "\r\n")
        status = lines.first.flatMap { Int($0.split(separator: " ").dropFirst().first ?? "") } ?? 0
        if status == 101 {
            let accept = lines.first { $0.lowercased().hasPrefix("sec-websocket-accept:") }
                .map { String($0.dropFirst("sec-websocket-accept:".count)).trimmingCharacters(in: .whitespaces) }
            if accept != WebSocketEchoPartner.acceptValue(forKey: key) { status = -101 }
        }
    }

    deinit { TCPSocket.close(fd) }

    public func send(_ frame: WebSocketFrame) throws {
        try TCPSocket.sendAll(fd, frame.encoded(mask: (0..<4).map { _ in UInt8.random(in: 0...255) }))
    }

    /// The next frame; nil when the other side closed.
    public func receive() throws -> WebSocketFrame? {
        try WebSocketFrame.read(from: reader)
    }

    /// Whatever the other side sends until it closes (after a refusal: the answer's body).
    public func readToEnd() throws -> [UInt8] {
        try reader.readToEnd()
    }

    /// Sends `bytes` again and again until a send blocks for the socket's timeout or `limit` bytes went out.
    /// - Returns: the bytes sent, and whether a send blocked (back-pressure reached this client).
    public func sendUntilBlocked(_ bytes: [UInt8], limit: Int) -> (sent: Int, blocked: Bool) {
        var sent = 0
        while sent < limit {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n < 0 { return (sent, errno == EAGAIN || errno == EWOULDBLOCK) }
            sent += n
        }
        return (sent, false)
    }

    /// Sends a FIN: the client is done sending.
    public func halfClose() {
        TCPSocket.shutdown(fd, how: Int32(SHUT_WR))
    }
}

/// SHA-1 (FIPS 180-4), for `Sec-WebSocket-Accept` only.
enum SHA1 {
    static func digest(_ message: [UInt8]) -> [UInt8] {
        var h: [UInt32] = [0x6745_2301, 0xEFCD_AB89, 0x98BA_DCFE, 0x1032_5476, 0xC3D2_E1F0]
        var bytes = message
        let bitLength = UInt64(message.count) * 8
        bytes.append(0x80)
        while bytes.count % 64 != 56 { bytes.append(0) }
        for shift in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8((bitLength >> UInt64(shift)) & 0xFF)) }
        var w = [UInt32](repeating: 0, count: 80)
        for chunk in stride(from: 0, to: bytes.count, by: 64) {
            for i in 0..<16 {
                let at = chunk + i * 4
                w[i] =
                    UInt32(bytes[at]) << 24 | UInt32(bytes[at + 1]) << 16 | UInt32(bytes[at + 2]) << 8
                    | UInt32(bytes[at + 3])
            }
            for i in 16..<80 {
                let x = w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]
                w[i] = x << 1 | x >> 31
            }
            var (a, b, c, d, e) = (h[0], h[1], h[2], h[3], h[4])
            for i in 0..<80 {
                let (f, k): (UInt32, UInt32)
                switch i {
                case 0..<20: (f, k) = ((b & c) | (~b & d), 0x5A82_7999)
                case 20..<40: (f, k) = (b ^ c ^ d, 0x6ED9_EBA1)
                case 40..<60: (f, k) = ((b & c) | (b & d) | (c & d), 0x8F1B_BCDC)
                default: (f, k) = (b ^ c ^ d, 0xCA62_C1D6)
                }
                let temp = (a << 5 | a >> 27) &+ f &+ e &+ k &+ w[i]
                (e, d, c, b, a) = (d, c, b << 30 | b >> 2, a, temp)
            }
            h[0] = h[0] &+ a
            h[1] = h[1] &+ b
            h[2] = h[2] &+ c
            h[3] = h[3] &+ d
            h[4] = h[4] &+ e
        }
        return h.flatMap { value in [24, 16, 8, 0].map { UInt8((value >> UInt32($0)) & 0xFF) } }
    }
}
