import Glibc

/// A blocking client socket for tests that must control the exact bytes: pipelining, malformed input,
/// slow clients, half-closes.
///
/// ```swift
/// let client = try RawHTTPClient(port: proxy.port)
/// try client.send("GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n")
/// let first = try client.readResponse()
/// let second = try client.readResponse()   // bytes past the first response were kept
/// ```
///
/// Not thread-safe: use one client from one test at a time.
public final class RawHTTPClient {
    private var fd: CInt
    private let reader: SocketReader

    /// Connects to `host:port`.
    /// - Parameters:
    ///   - host: a numeric IPv4 or IPv6 address, or `localhost`.
    ///   - timeoutMs: applied as `SO_RCVTIMEO` and `SO_SNDTIMEO`, so it bounds `connect` and each single
    ///     `recv`/`send` (not a whole response: a server that trickles bytes can take longer).
    /// - Throws: ``TestSupportError`` naming `socket`, `setsockopt(...)` or `connect`.
    public init(port: UInt16, host: String = "127.0.0.1", timeoutMs: Int = 5000) throws {
        self.fd = try TCPSocket.connect(host: host, port: port, timeoutMs: timeoutMs)
        self.reader = SocketReader(fd: self.fd)
    }

    deinit {
        self.close()
    }

    /// Writes all of `bytes` (`send` with `MSG_NOSIGNAL`, so a closed peer throws `EPIPE` rather than raising
    /// `SIGPIPE`).
    public func send(_ bytes: [UInt8]) throws {
        try self.requireOpen("send")
        try TCPSocket.sendAll(self.fd, bytes)
    }

    /// Writes `text` as UTF-8.
    public func send(_ text: String) throws {
        try self.send(Array(text.utf8))
    }

    /// Reads exactly one response: status line, headers, and a body framed by `Transfer-Encoding: chunked`,
    /// `Content-Length`, or (with neither) the connection closing. Bytes past the response stay buffered for
    /// the next call, so pipelined responses read one by one.
    ///
    /// 1xx, 204 and 304 responses have no body. Interim `100 Continue` responses are returned like any other.
    /// - Parameter expectBody: pass `false` when the request was `HEAD`, whose response declares a length but
    ///   carries no body.
    /// - Throws: ``TestSupportError``: ``TestSupportError/Kind/unexpectedEOF`` if the connection closes before
    ///   the response is complete (a short body), ``TestSupportError/Kind/timedOut``, `ECONNRESET`, or
    ///   ``TestSupportError/Kind/malformed``.
    public func readResponse(expectBody: Bool = true) throws -> RawHTTPResponse {
        let call = "read response"
        try self.requireOpen(call)
        guard let head = try HTTPWire.readHead(from: self.reader, call: call) else {
            throw TestSupportError.unexpectedEOF(call: call, detail: "connection closed before a status line")
        }
        let parts = head.startLine.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: true)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/"), parts[1].count == 3, let status = Int(parts[1]) else {
            throw TestSupportError.malformed(call: call, detail: "bad status line: \(head.startLine)")
        }
        let body: [UInt8]
        if !expectBody || (100..<200).contains(status) || status == 204 || status == 304 {
            body = []
        } else if HTTPWire.isChunked(head.headers) {
            body = try HTTPWire.readChunkedBody(from: self.reader, call: call)
        } else if let length = try HTTPWire.contentLength(in: head.headers, call: call) {
            body = try HTTPWire.readBody(length: length, from: self.reader, call: call)
        } else {
            body = try self.reader.readToEnd()
        }
        return RawHTTPResponse(status: status, headers: head.headers, body: body)
    }

    /// Reads exactly one response and checks its framing strictly (see ``StrictResponseParser``): the bytes a
    /// client would take as this response, and nothing more. Bytes after it stay buffered (``unreadBytes``),
    /// so a test can tell a stray byte from the next response.
    /// - Parameter method: the request's method; a HEAD answer has no body.
    /// - Throws: ``TestSupportError``: ``TestSupportError/Kind/malformed`` naming the framing defect,
    ///   ``TestSupportError/Kind/unexpectedEOF`` when the connection ends inside the response (or before it),
    ///   ``TestSupportError/Kind/timedOut``, `ECONNRESET`.
    public func readStrictResponse(method: String = "GET") throws -> StrictResponseParser.Parsed {
        try self.requireOpen("parse response strictly")
        while true {
            if self.reader.reachedEOF && self.reader.bufferedCount == 0 {
                throw TestSupportError.unexpectedEOF(
                    call: "parse response strictly", detail: "connection closed before a status line")
            }
            let atEOF = self.reader.reachedEOF
            if let parsed = try StrictResponseParser.parse(self.reader.unconsumed, method: method, atEOF: atEOF) {
                self.reader.consume(parsed.consumed)
                return parsed
            }
            try self.reader.fill()
        }
    }

    /// Bytes received and not yet read as a response (a stray byte after a complete response shows here).
    public var unreadBytes: [UInt8] { Array(self.reader.unconsumed) }

    /// Returns every byte (including any already buffered) until the server closes the connection.
    /// - Throws: ``TestSupportError`` on timeout or a reset.
    public func readUntilClose() throws -> [UInt8] {
        try self.requireOpen("read until close")
        return try self.reader.readToEnd()
    }

    /// Whether the server closes the connection within `waitMs`: `recv` returns 0 or fails (for example with
    /// `ECONNRESET`).
    ///
    /// Bytes that arrive meanwhile are kept for ``readResponse(expectBody:)``, so this can be asked after a
    /// request whose response has not been read. Returns `false` if this client was already closed locally.
    public func isClosedByPeer(waitMs: Int = 1000) -> Bool {
        guard self.fd >= 0 else {
            return false
        }
        let deadline = ContinuousClock.now + .milliseconds(waitMs)
        repeat {
            if self.reader.reachedEOF {
                return true
            }
            let remaining = ContinuousClock.now.duration(to: deadline)
            let timeout = CInt(max(0, (remaining / .milliseconds(1)).rounded(.up)))
            var pollEntry = pollfd(fd: self.fd, events: Int16(POLLIN), revents: 0)
            guard let ready = try? Syscall.call("poll", { poll(&pollEntry, 1, timeout) }), ready > 0 else {
                return false
            }
            do {
                if try !self.reader.fill() {
                    return true
                }
            } catch let error as TestSupportError {
                return !error.isTimeout
            } catch {
                return true
            }
        } while ContinuousClock.now < deadline
        return false
    }

    /// Caps the socket's receive buffer at `bytes` (`SO_RCVBUF`, which the kernel doubles for bookkeeping and
    /// which turns off receive-buffer autotuning), so a test that stops reading fills the server's send path after
    /// a few kilobytes instead of megabytes. The corresponding C function is `setsockopt`.
    /// - Throws: ``TestSupportError`` naming `setsockopt(SO_RCVBUF)`.
    public func limitReceiveBuffer(bytes: Int32) throws {
        try self.requireOpen("setsockopt(SO_RCVBUF)")
        var value = bytes
        _ = try Syscall.call("setsockopt(SO_RCVBUF)") {
            setsockopt(self.fd, SOL_SOCKET, SO_RCVBUF, &value, socklen_t(MemoryLayout<Int32>.size))
        }
    }

    /// Half-closes the connection (sends FIN) while still allowing reads. The corresponding C function is
    /// `shutdown(fd, SHUT_WR)`.
    public func shutdownWrite() {
        if self.fd >= 0 {
            TCPSocket.shutdown(self.fd, how: Int32(SHUT_WR))
        }
    }

    /// Aborts the connection: `SO_LINGER` 0, then `close`, so the peer sees RST instead of FIN (a client that
    /// went away, not one that half-closed after its request).
    public func reset() {
        if self.fd >= 0 {
            TCPSocket.setLingerZero(self.fd)
            self.close()
        }
    }

    /// Closes the socket. Idempotent; `deinit` calls it too.
    public func close() {
        if self.fd >= 0 {
            TCPSocket.close(self.fd)
            self.fd = -1
        }
    }

    private func requireOpen(_ call: String) throws {
        if self.fd < 0 {
            throw TestSupportError.system(EBADF, call: call, detail: "RawHTTPClient already closed")
        }
    }
}

// MARK: - One-shot requests

/// Sends one `GET` with `Connection: close` and returns its response.
/// - Throws: ``TestSupportError`` from connecting, sending or reading.
public func httpGet(
    port: UInt16,
    path: String,
    headers: [(String, String)] = [],
    timeoutMs: Int = 5000
) throws -> RawHTTPResponse {
    try httpRequest(port: port, method: "GET", path: path, headers: headers, timeoutMs: timeoutMs)
}

/// Sends one request on a fresh connection and returns its response.
///
/// Adds `Host: 127.0.0.1:PORT`, `Connection: close`, and `Content-Length` (when there is a body, or the method
/// is `POST`, `PUT` or `PATCH`) unless `headers` already has them (or `Transfer-Encoding`, for the length).
/// - Throws: ``TestSupportError`` from connecting, sending or reading.
public func httpRequest(
    port: UInt16,
    method: String,
    path: String,
    headers: [(String, String)] = [],
    body: [UInt8] = [],
    timeoutMs: Int = 5000
) throws -> RawHTTPResponse {
    let client = try RawHTTPClient(port: port, timeoutMs: timeoutMs)
    defer { client.close() }
    var head = "\(method) \(path) HTTP/1.1\r\n"
    if HTTPWire.value(of: "Host", in: headers) == nil {
        head += "Host: 127.0.0.1:\(port)\r\n"
    }
    for (name, value) in headers {
        head += "\(name): \(value)\r\n"
    }
    let framed =
        HTTPWire.value(of: "Content-Length", in: headers) != nil
        || HTTPWire.value(of: "Transfer-Encoding", in: headers) != nil
    if !framed && (!body.isEmpty || ["POST", "PUT", "PATCH"].contains(method)) {
        head += "Content-Length: \(body.count)\r\n"
    }
    if HTTPWire.value(of: "Connection", in: headers) == nil {
        head += "Connection: close\r\n"
    }
    head += "\r\n"
    try client.send(Array(head.utf8) + body)
    return try client.readResponse(expectBody: method != "HEAD")
}
