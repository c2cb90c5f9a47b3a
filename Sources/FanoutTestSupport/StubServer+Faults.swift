import Glibc

// MARK: - Faults of a failing partner

extension StubServer {
    /// Chunk size of a `.giantChunked` answer: 16 KiB.
    static let faultChunkBytes = 16 * 1024

    /// A status line and exactly these header fields, then the empty line: nothing added, so a fault can
    /// declare whatever framing it likes.
    static func head(status: Int, headers: [(String, String)]) -> [UInt8] {
        var text = "HTTP/1.1 \(status) \(HTTPWire.reasonPhrase(status))\r\n"
        for (name, value) in headers {
            text += "\(name): \(value)\r\n"
        }
        return Array((text + "\r\n").utf8)
    }

    /// Holds the connection until the client closes it or ``stop()`` shuts it down, discarding anything sent.
    static func discardUntilClosed(_ reader: SocketReader) {
        _ = reader.takeBuffered()
        while (try? reader.fill()) == true {
            _ = reader.takeBuffered()
        }
    }

    /// `.scripted`: writes each step's bytes verbatim, pausing where the script says.
    /// - Returns: `true` if every byte went out (the stub did not stop and the client did not go away).
    func play(_ steps: [UpstreamStub.WireStep], on fd: CInt) -> Bool {
        for step in steps {
            switch step {
            case .send(let bytes):
                guard (try? TCPSocket.sendAll(fd, bytes)) != nil else {
                    return false
                }
            case .pause(let milliseconds):
                self.pause(milliseconds: milliseconds)
            }
            if self.isStopped {
                return false
            }
        }
        return true
    }

    /// `.drip`: the head at once, then one body byte every `everyMs`.
    /// - Returns: `true` if the whole answer went out and the connection should serve another request.
    func drip(_ fd: CInt, to request: StubRequest, body: [UInt8], everyMs: Int) -> Bool {
        let keepAlive = Self.keepsAlive(request)
        var headers = Self.json + [("Content-Length", "\(body.count)")]
        if !keepAlive {
            headers.append(("Connection", "close"))
        }
        do {
            try TCPSocket.sendAll(fd, Self.head(status: 200, headers: headers))
            for byte in body {
                self.pause(milliseconds: everyMs)
                if self.isStopped {
                    return false
                }
                try TCPSocket.sendAll(fd, [byte])
            }
        } catch {
            return false
        }
        return keepAlive
    }

    /// `.giantChunked`: a JSON string of `bytes` bytes (`"xxx…"`), sent chunked in ``faultChunkBytes`` pieces.
    /// - Returns: `true` if the whole answer went out and the connection should serve another request.
    func sendChunkedString(_ fd: CInt, to request: StubRequest, bytes: Int) -> Bool {
        let keepAlive = Self.keepsAlive(request)
        var headers = Self.json + [("Transfer-Encoding", "chunked")]
        if !keepAlive {
            headers.append(("Connection", "close"))
        }
        let total = max(2, bytes)
        do {
            try TCPSocket.sendAll(fd, Self.head(status: 200, headers: headers))
            var sent = 0
            while sent < total {
                if self.isStopped {
                    return false
                }
                let count = min(Self.faultChunkBytes, total - sent)
                var chunk = [UInt8](repeating: UInt8(ascii: "x"), count: count)
                if sent == 0 {
                    chunk[0] = UInt8(ascii: "\"")
                }
                if sent + count == total {
                    chunk[count - 1] = UInt8(ascii: "\"")
                }
                try TCPSocket.sendAll(fd, Array("\(String(count, radix: 16))\r\n".utf8) + chunk + [13, 10])
                sent += count
            }
            try TCPSocket.sendAll(fd, Array("0\r\n\r\n".utf8))
        } catch {
            return false
        }
        return keepAlive
    }
}
