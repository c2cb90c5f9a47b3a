/// HTTP/1.x framing shared by the stub (requests) and the raw client (responses).
///
/// Deliberately independent of the proxy's own parser, so a parser bug cannot hide itself by breaking the
/// oracle too. Lenient where that is harmless (bare LF line endings, leading empty lines).
enum HTTPWire {
    /// Longest accepted start or header line: 64 KiB.
    static let lineLimit = 64 * 1024
    /// Most header lines accepted in one message head.
    static let headerCountLimit = 1000

    /// A start line plus header fields, in wire order.
    struct Head {
        var startLine: String
        var headers: [(String, String)]
    }

    /// Reads a message head (start line and header fields up to the empty line).
    /// - Returns: `nil` if the peer closed cleanly before the first byte.
    static func readHead(from reader: SocketReader, call: String) throws -> Head? {
        var startLine: [UInt8]
        repeat {
            guard let line = try reader.readLine(limit: Self.lineLimit, call: call) else {
                return nil
            }
            startLine = line
        } while startLine.isEmpty
        var headers: [(String, String)] = []
        while true {
            guard let line = try reader.readLine(limit: Self.lineLimit, call: call) else {
                throw TestSupportError.unexpectedEOF(call: call, detail: "inside the header block")
            }
            if line.isEmpty {
                break
            }
            guard headers.count < Self.headerCountLimit else {
                throw TestSupportError.malformed(call: call, detail: "more than \(Self.headerCountLimit) headers")
            }
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")), colon > 0 else {
                throw TestSupportError.malformed(call: call, detail: "header line without colon: \(Self.text(line))")
            }
            let name = Self.text(line[..<colon])
            let value = Self.trimmed(Self.text(line[(colon + 1)...]))
            headers.append((name, value))
        }
        return Head(startLine: Self.text(startLine), headers: headers)
    }

    /// Reads a body of exactly the declared length.
    static func readBody(length: Int, from reader: SocketReader, call: String) throws -> [UInt8] {
        try reader.readExactly(length, call: call)
    }

    /// Reads and decodes a `Transfer-Encoding: chunked` body, discarding chunk extensions and trailers.
    static func readChunkedBody(from reader: SocketReader, call: String) throws -> [UInt8] {
        var body: [UInt8] = []
        while true {
            guard let sizeLine = try reader.readLine(limit: Self.lineLimit, call: call) else {
                throw TestSupportError.unexpectedEOF(call: call, detail: "before a chunk size line")
            }
            let sizeText = Self.text(sizeLine).split(separator: ";", maxSplits: 1).first.map(String.init) ?? ""
            guard let size = Int(Self.trimmed(sizeText), radix: 16), size >= 0 else {
                throw TestSupportError.malformed(call: call, detail: "invalid chunk size line: \(Self.text(sizeLine))")
            }
            if size == 0 {
                while let trailer = try reader.readLine(limit: Self.lineLimit, call: call), !trailer.isEmpty {}
                return body
            }
            body += try reader.readExactly(size, call: call)
            guard let end = try reader.readLine(limit: Self.lineLimit, call: call), end.isEmpty else {
                throw TestSupportError.malformed(call: call, detail: "chunk data not followed by CRLF")
            }
        }
    }

    /// The first value of header `name`, compared case-insensitively.
    static func value(of name: String, in headers: [(String, String)]) -> String? {
        let wanted = name.lowercased()
        return headers.first { $0.0.lowercased() == wanted }?.1
    }

    /// `true` if header `name` lists `token` (comma-separated, case-insensitive), as in `Connection: close`.
    static func headerHasToken(_ name: String, _ token: String, in headers: [(String, String)]) -> Bool {
        let wantedName = name.lowercased()
        let wantedToken = token.lowercased()
        return headers.contains { header in
            header.0.lowercased() == wantedName
                && header.1.split(separator: ",").contains { Self.trimmed(String($0)).lowercased() == wantedToken }
        }
    }

    /// The declared `Content-Length`, `nil` if absent.
    static func contentLength(in headers: [(String, String)], call: String) throws -> Int? {
        guard let raw = Self.value(of: "Content-Length", in: headers) else {
            return nil
        }
        guard let length = Int(raw), length >= 0 else {
            throw TestSupportError.malformed(call: call, detail: "invalid Content-Length: \(raw)")
        }
        return length
    }

    /// `true` if the last transfer coding is `chunked`.
    static func isChunked(_ headers: [(String, String)]) -> Bool {
        guard let codings = Self.value(of: "Transfer-Encoding", in: headers) else {
            return false
        }
        return codings.split(separator: ",").last.map { Self.trimmed(String($0)).lowercased() } == "chunked"
    }

    // MARK: - Text

    static func text<Bytes: Collection<UInt8>>(_ bytes: Bytes) -> String {
        String(decoding: bytes, as: UTF8.self)
    }

    static func trimmed(_ string: String) -> String {
        var scalars = Substring(string)
        while let first = scalars.first, first == " " || first == "\t" {
            scalars.removeFirst()
        }
        while let last = scalars.last, last == " " || last == "\t" {
            scalars.removeLast()
        }
        return String(scalars)
    }

    /// A reason phrase for common status codes; anything else gets `"Status"` (clients must ignore it).
    static func reasonPhrase(_ status: Int) -> String {
        switch status {
        case 100: return "Continue"
        case 200: return "OK"
        case 201: return "Created"
        case 202: return "Accepted"
        case 204: return "No Content"
        case 301: return "Moved Permanently"
        case 302: return "Found"
        case 304: return "Not Modified"
        case 400: return "Bad Request"
        case 401: return "Unauthorized"
        case 403: return "Forbidden"
        case 404: return "Not Found"
        case 405: return "Method Not Allowed"
        case 408: return "Request Timeout"
        case 413: return "Content Too Large"
        case 429: return "Too Many Requests"
        case 500: return "Internal Server Error"
        case 502: return "Bad Gateway"
        case 503: return "Service Unavailable"
        case 504: return "Gateway Timeout"
        default: return "Status"
        }
    }
}
