/// The two heads fanout writes itself for an `Upgrade` tunnel (libcurl only connects): the upgrade request to
/// the partner and the 101 to the client; and the parser of the partner's answer head. Pure byte work.
public enum TunnelHeads {
    /// The longest answer head a partner may send before a tunnel (as for any answer: 64 KiB).
    public static let maxAnswerHeadBytes = 64 * 1024

    /// The request head to the partner: `METHOD /path?query HTTP/1.1`, `Host` from `url`'s authority, the
    /// `headerLines` (end-to-end client headers, forwarded and trace headers, already checked for CR/LF/NUL),
    /// then `Connection: Upgrade` and the client's `Upgrade`.
    /// - Returns: nil when `url` has no `scheme://authority`.
    public static func requestHead(method: String, url: String, headerLines: [String], upgrade: String) -> [UInt8]? {
        guard let schemeEnd = url.firstRange(of: "://") else { return nil }
        let rest = url[schemeEnd.upperBound...]
        let pathStart = rest.firstIndex(where: { $0 == "/" || $0 == "?" }) ?? rest.endIndex
        let authority = rest[..<pathStart]
        guard !authority.isEmpty else { return nil }
        var target = String(rest[pathStart...])
        if let hash = target.firstIndex(of: "#") { target = String(target[..<hash]) }
        if target.isEmpty || target.hasPrefix("?") { target = "/" + target }
        var head = "\(method) \(target) HTTP/1.1\r\nHost: \(authority)\r\n"
        for line in headerLines { head += line + "\r\n" }
        head += "Connection: Upgrade\r\nUpgrade: \(upgrade)\r\n\r\n"
        return Array(head.utf8)
    }

    /// A partner's answer head.
    public struct AnswerHead: Sendable, Equatable {
        public var status: Int
        public var reason: String
        public var headers: [(name: String, value: String)]
        /// Bytes of the head, the blank line included; what follows belongs to the body or the tunnel.
        public var length: Int

        public static func == (lhs: AnswerHead, rhs: AnswerHead) -> Bool {
            lhs.status == rhs.status && lhs.reason == rhs.reason && lhs.length == rhs.length
                && lhs.headers.elementsEqual(rhs.headers, by: { $0.name == $1.name && $0.value == $1.value })
        }

        /// The `Content-Length` of a non-101 answer, when it has exactly one valid one.
        public var contentLength: Int? {
            let values = headers.filter { HTTPHeaders.namesEqual($0.name, "content-length") }
            guard values.count == 1, let length = Int(TunnelHeads.trimmed(Substring(values[0].value))), length >= 0
            else {
                return nil
            }
            return length
        }

        public var isChunked: Bool {
            headers.contains { HTTPHeaders.namesEqual($0.name, "transfer-encoding") }
        }

        /// The head passed to the client: the 101 with the partner's end-to-end fields and its `Upgrade`,
        /// `Connection: Upgrade`; for another status, the fields a plain answer may carry (no hop-by-hop or
        /// framing fields: fanout frames that answer itself).
        public func fieldsForClient() -> [(name: String, value: String)] {
            let dropped: Set<String> = [
                "connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "content-length",
                "date",
            ]
            var fields = headers.filter { !dropped.contains($0.name.lowercased()) }
            if status != 101 { fields.removeAll { HTTPHeaders.namesEqual($0.name, "upgrade") } }
            return fields
        }

        /// The 101 head for the client.
        public func switchingProtocolsHead() -> [UInt8] {
            var head = "HTTP/1.1 101 \(reason.isEmpty ? "Switching Protocols" : reason)\r\n"
            for field in fieldsForClient() { head += "\(field.name): \(field.value)\r\n" }
            head += "Connection: Upgrade\r\n\r\n"
            return Array(head.utf8)
        }
    }

    public enum AnswerParse: Sendable, Equatable {
        case needMoreData
        case complete(AnswerHead)
        /// Not an HTTP/1.x answer head, or too large: the tunnel fails (502).
        case malformed(String)
    }

    /// Parses the answer head at the start of `bytes`. An interim 1xx other than 101 is not expected (the
    /// request has no body, so no 100 Continue) and is refused as malformed.
    public static func parseAnswer(_ bytes: some Collection<UInt8>) -> AnswerParse {
        let data = Array(bytes.prefix(maxAnswerHeadBytes + 4))
        guard let end = headEnd(data) else {
            return data.count >= maxAnswerHeadBytes
                ? .malformed("the answer head is over \(maxAnswerHeadBytes) bytes") : .needMoreData
        }
        guard let text = String(validating: data[..<end], as: UTF8.self) else {
            return .malformed("the answer head is not valid UTF-8")
        }
        var lines = text.split(separator: "\r\n", omittingEmptySubsequences: false)
        let statusLine = lines.removeFirst()
        let parts = statusLine.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count >= 2, parts[0] == "HTTP/1.1" || parts[0] == "HTTP/1.0", parts[1].count == 3,
            let status = Int(parts[1]), (100...599).contains(status)
        else {
            return .malformed("the answer does not start with an HTTP/1.x status line")
        }
        var headers: [(name: String, value: String)] = []
        for line in lines where !line.isEmpty {
            guard let colon = line.firstIndex(of: ":"), colon != line.startIndex,
                !line[..<colon].contains(where: { $0 == " " || $0 == "\t" })
            else {
                return .malformed("the answer has an invalid header line")
            }
            headers.append((String(line[..<colon]), String(TunnelHeads.trimmed(line[line.index(after: colon)...]))))
        }
        if status != 101 && status < 200 { return .malformed("the partner sent an interim \(status) answer") }
        return .complete(
            AnswerHead(
                status: status, reason: parts.count > 2 ? String(parts[2]) : "", headers: headers, length: end + 4))
    }

    static func trimmed(_ text: Substring) -> Substring {
        var text = text
        while let first = text.first, first == " " || first == "\t" { text.removeFirst() }
        while let last = text.last, last == " " || last == "\t" { text.removeLast() }
        return text
    }

    private static func headEnd(_ data: [UInt8]) -> Int? {
        guard data.count >= 4 else { return nil }
        for index in 0...(data.count - 4)
        where data[index] == 13 && data[index + 1] == 10 && data[index + 2] == 13 && data[index + 3] == 10 {
            return index
        }
        return nil
    }
}
