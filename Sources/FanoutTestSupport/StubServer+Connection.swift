import Glibc

// MARK: - Serving one connection

extension StubServer {
    /// How a connection thread closes its socket.
    enum ConnectionEnding {
        /// Plain `close` (FIN, or RST if unread request bytes remain).
        case close
        /// `SO_LINGER` 0, then `close`: the peer sees RST.
        case reset
    }

    /// The headers of a `.json` behavior.
    static let json = [("Content-Type", "application/json")]

    /// Serves requests on `fd` (the `connection`-th accepted) until the client closes, a behavior closes, or the
    /// stub stops.
    func serve(_ fd: CInt, connection: Int) -> ConnectionEnding {
        let reader = SocketReader(fd: fd)
        var answered = false
        while true {
            if answered, let idleTimeoutMs = self.idleTimeoutMs, !Self.waitForRequest(reader, fd: fd, ms: idleTimeoutMs)
            {
                return .close
            }
            answered = true
            let request: StubRequest
            do {
                guard var next = try self.readRequest(from: reader, fd: fd) else {
                    return .close
                }
                next.connection = connection
                request = next
            } catch let error as TestSupportError where error.kind == .malformed {
                let response = Self.response(
                    status: 400,
                    headers: Self.json,
                    body: Array(#"{"error":"bad request"}"#.utf8),
                    closing: true,
                    http10KeepAlive: false,
                    omitBody: false
                )
                try? TCPSocket.sendAll(fd, response)
                return .close
            } catch {
                return .close
            }
            let (earlier, routed) = self.withLock { state in
                let count = state.requests.count(where: { $0.path == request.path })
                state.requests.append(request)
                return (count, state.routes[request.path])
            }
            var behavior = routed ?? self.fallback
            while true {
                if case .sequence(let first, let then) = behavior {
                    behavior = earlier < first.count ? first[earlier] : then
                } else if case .computed(let answer) = behavior {
                    behavior = answer(request)
                } else {
                    break
                }
            }

            switch behavior {
            case .sequence, .computed:
                return .close  // resolved above
            case .respond(let status, let headers, let body, let delayMs):
                guard self.respond(fd, to: request, status: status, headers: headers, body: body, delay: delayMs) else {
                    return .close
                }
            case .json(let text, let delayMs):
                let body = Array(text.utf8)
                guard self.respond(fd, to: request, status: 200, headers: Self.json, body: body, delay: delayMs) else {
                    return .close
                }
            case .closeWithoutResponse:
                return .close
            case .neverRespond:
                Self.discardUntilClosed(reader)
                return .close
            case .resetAfterHeaders:
                let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
                try? TCPSocket.sendAll(fd, Array(head.utf8) + Array("0123456789".utf8))
                return .reset
            case .raw(let bytes, let delayMs):
                self.pause(milliseconds: delayMs)
                if !self.isStopped {
                    try? TCPSocket.sendAll(fd, bytes)
                }
                return .close
            case .drip(let body, let everyMs):
                guard self.drip(fd, to: request, body: body, everyMs: everyMs) else {
                    return .close
                }
            case .hangAfterHeaders:
                try? TCPSocket.sendAll(fd, Self.head(status: 200, headers: Self.json + [("Content-Length", "100")]))
                Self.discardUntilClosed(reader)
                return .close
            case .wrongContentLength(let declared, let body):
                let head = Self.head(status: 200, headers: Self.json + [("Content-Length", "\(declared)")])
                try? TCPSocket.sendAll(fd, head + body)
                return .close
            case .duplicateContentLength(let first, let second, let body):
                let lengths = [("Content-Length", "\(first)"), ("Content-Length", "\(second)")]
                try? TCPSocket.sendAll(fd, Self.head(status: 200, headers: Self.json + lengths) + body)
                return .close
            case .giantChunked(let bytes):
                guard self.sendChunkedString(fd, to: request, bytes: bytes) else {
                    return .close
                }
            case .manyHeaders(let count, let valueBytes):
                let value = String(repeating: "v", count: valueBytes)
                let fillers = (0..<count).map { ("X-\($0)", value) }
                let headers = Self.json + fillers
                guard self.respond(fd, to: request, status: 200, headers: headers, body: Array("{}".utf8), delay: 0)
                else {
                    return .close
                }
            case .redirect(let location, let status):
                let headers = Self.json + [("Location", location)]
                let body = Array(#"{"moved":true}"#.utf8)
                guard self.respond(fd, to: request, status: status, headers: headers, body: body, delay: 0) else {
                    return .close
                }
            case .badChunk:
                let head = Self.head(status: 200, headers: Self.json + [("Transfer-Encoding", "chunked")])
                try? TCPSocket.sendAll(fd, head + Array("zz\r\n{}\r\n0\r\n\r\n".utf8))
                return .close
            case .scripted(let steps, let thenServe):
                guard self.play(steps, on: fd), thenServe else {
                    return .close
                }
            }
        }
    }

    /// Whether the next request starts within `ms` (or bytes of it are already buffered, or the client closed,
    /// which the read then sees); false when the connection stayed idle that long.
    private static func waitForRequest(_ reader: SocketReader, fd: CInt, ms: Int) -> Bool {
        guard reader.bufferedCount == 0 else {
            return true
        }
        var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let ready = (try? Syscall.call("poll") { poll(&entry, 1, Int32(ms)) }) ?? 1
        return ready > 0
    }

    /// Reads one complete request (head and body).
    /// - Returns: `nil` if the client closed cleanly between requests.
    private func readRequest(from reader: SocketReader, fd: CInt) throws -> StubRequest? {
        let call = "read request"
        guard let head = try HTTPWire.readHead(from: reader, call: call) else {
            return nil
        }
        let parts = head.startLine.split(separator: " ", omittingEmptySubsequences: true)
        guard parts.count == 3, parts[2].hasPrefix("HTTP/1.") else {
            throw TestSupportError.malformed(call: call, detail: "bad request line: \(head.startLine)")
        }
        let chunked = HTTPWire.isChunked(head.headers)
        let length = chunked ? nil : try HTTPWire.contentLength(in: head.headers, call: call)
        let expectsBody = chunked || (length ?? 0) > 0
        if expectsBody && HTTPWire.headerHasToken("Expect", "100-continue", in: head.headers) {
            try TCPSocket.sendAll(fd, Array("HTTP/1.1 100 Continue\r\n\r\n".utf8))
        }
        var body: [UInt8] = []
        if chunked {
            body = try HTTPWire.readChunkedBody(from: reader, call: call)
        } else if let length {
            body = try HTTPWire.readBody(length: length, from: reader, call: call)
        }
        let target = String(parts[1])
        return StubRequest(
            method: String(parts[0]),
            target: target,
            path: StubRequest.path(of: target),
            version: String(parts[2]),
            headers: head.headers,
            body: body
        )
    }

    /// Writes one response after `delayMs`.
    /// - Returns: `true` if the connection should serve another request.
    private func respond(
        _ fd: CInt,
        to request: StubRequest,
        status: Int,
        headers: [(String, String)],
        body: [UInt8],
        delay delayMs: Int
    ) -> Bool {
        self.pause(milliseconds: delayMs)
        if self.isStopped {
            return false
        }
        let keepAlive = Self.keepsAlive(request)
        let closing = !keepAlive || HTTPWire.headerHasToken("Connection", "close", in: headers)
        let response = Self.response(
            status: status,
            headers: headers,
            body: body,
            closing: closing,
            http10KeepAlive: keepAlive && request.version == "HTTP/1.0",
            omitBody: request.method == "HEAD"
        )
        do {
            try TCPSocket.sendAll(fd, response)
        } catch {
            return false
        }
        return !closing
    }

    /// Whether the client asked to keep the connection open after this request (HTTP/1.1 default, HTTP/1.0 with
    /// `Connection: keep-alive`).
    static func keepsAlive(_ request: StubRequest) -> Bool {
        if request.version == "HTTP/1.0" {
            return HTTPWire.headerHasToken("Connection", "keep-alive", in: request.headers)
        }
        return !HTTPWire.headerHasToken("Connection", "close", in: request.headers)
    }

    /// Serializes a response, adding `Content-Length` and `Connection` headers where the script left them out.
    static func response(
        status: Int,
        headers: [(String, String)],
        body: [UInt8],
        closing: Bool,
        http10KeepAlive: Bool,
        omitBody: Bool
    ) -> [UInt8] {
        var head = "HTTP/1.1 \(status) \(HTTPWire.reasonPhrase(status))\r\n"
        for (name, value) in headers {
            head += "\(name): \(value)\r\n"
        }
        let framed =
            HTTPWire.value(of: "Content-Length", in: headers) != nil
            || HTTPWire.value(of: "Transfer-Encoding", in: headers) != nil
        let bodyless = (100..<200).contains(status) || status == 204 || status == 304
        if !framed && !bodyless {
            head += "Content-Length: \(body.count)\r\n"
        }
        if HTTPWire.value(of: "Connection", in: headers) == nil {
            if closing {
                head += "Connection: close\r\n"
            } else if http10KeepAlive {
                head += "Connection: keep-alive\r\n"
            }
        }
        head += "\r\n"
        return Array(head.utf8) + (omitBody ? [] : body)
    }
}
