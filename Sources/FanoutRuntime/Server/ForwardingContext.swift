import FanoutCore

/// What upstream requests inherit from the client request: forwarded headers, identity and trace.
struct ForwardingContext {
    var request: HTTPRequest
    /// The client connection's forwarded-header lines, made once per connection.
    var peer: ForwardedPeer
    var requestID: String
    /// The request's trace; each upstream call adds ``TraceContext/headerLines(spanID:)`` of its own.
    var trace: TraceContext

    /// `X-Forwarded-For` (the client's chain plus the peer), `-Proto`, `-Host`, and the request id: those of them
    /// in `set` (an upstream's `context_headers`).
    func forwardingHeaderLines(_ set: ContextHeaders = .all) -> [String] {
        var lines: [String] = []
        appendForwardingHeaderLines(set, to: &lines)
        return lines
    }

    /// ``forwardingHeaderLines(_:)`` appended to `lines` in place (reserve 4 more first). Only the chain's and the
    /// request id's lines are built per request: the peer's and the `Host`'s come from ``ForwardedPeer``, and
    /// `X-Forwarded-Proto` is a constant. A line left out of `set` is not built.
    func appendForwardingHeaderLines(_ set: ContextHeaders = .all, to lines: inout [String]) {
        if set.contains(.forwardedFor) {
            if let chain = request.head.headers[first: "x-forwarded-for"], HeaderLine.isSafeValue(chain) {
                lines.append("X-Forwarded-For: " + chain + ", " + peer.address)
            } else {
                lines.append(peer.forwardedForLine)
            }
        }
        if set.contains(.forwardedProto) { lines.append("X-Forwarded-Proto: http") }
        if set.contains(.forwardedHost), let host = request.head.host, HeaderLine.isSafeValue(host) {
            lines.append(peer.forwardedHostLine(host))
        }
        if set.contains(.requestID) { lines.append("X-Request-Id: " + requestID) }
    }

    /// Client headers named by `allowlist` (lowercased), as `Name: value` lines.
    func allowlistedHeaderLines(_ allowlist: Set<String>) -> [String] {
        var lines: [String] = []
        // Compared in place, ignoring ASCII case: `allowlist.contains(name.lowercased())` made a String and hashed
        // it for every client header (about 500 instructions per request, callgrind); the list is a few names.
        for (name, value) in request.head.headers
        where allowlist.contains(where: { HTTPHeaders.namesEqual(name, $0) }) {
            if HeaderLine.isSafeValue(value) { lines.append("\(name): \(value)") }
        }
        return lines
    }

    /// Every end-to-end client header except those `configured` replaces (plain proxy routes).
    func passThroughHeaderLines(replacedBy configured: [HeaderField]) -> [String] {
        let connectionTokens = Set(
            request.head.headers.values(named: "connection").flatMap { $0.split(separator: ",") }
                .map { $0.trimmingSpaces().lowercased() })
        let replaced = Set(configured.map { $0.name.lowercased() })
        var lines: [String] = []
        for (name, value) in request.head.headers {
            let lower = name.lowercased()
            if ForwardedHeaders.isNeverForwarded(lower) || connectionTokens.contains(lower) || replaced.contains(lower)
            {
                continue
            }
            if HeaderLine.isSafeValue(value) { lines.append("\(name): \(value)") }
        }
        return lines
    }
}

/// A request's shared lines (``ForwardingContext/forwardingHeaderLines(_:)`` for every member, then the
/// allowlisted client headers) as an upstream whose `context_headers` is not every member is sent them. The
/// forwarding lines are told apart by their place, which ``ForwardingContext/appendForwardingHeaderLines(_:to:)``
/// fixes: X-Forwarded-For, X-Forwarded-Proto, X-Forwarded-Host when the request names a host, X-Request-Id.
/// Comparing each line's name instead cost about 3,000 instructions per call (callgrind, `/overview`).
enum SharedForwardingLines {
    private static let withHost: [ContextHeaders] = [.forwardedFor, .forwardedProto, .forwardedHost, .requestID]
    private static let withoutHost: [ContextHeaders] = [.forwardedFor, .forwardedProto, .requestID]

    /// The member of each of the `count` forwarding lines, in order.
    private static func members(count: Int) -> [ContextHeaders] {
        precondition(count == 3 || count == 4, "forwarding lines for every member are 3 or 4, not \(count)")
        return count == 4 ? withHost : withoutHost
    }

    /// Appends the lines of `shared` an upstream with `set` is sent: its first `forwardingCount` lines those in
    /// `set`, the others all.
    static func append(_ shared: [String], forwardingCount: Int, for set: ContextHeaders, to lines: inout [String]) {
        for (line, member) in zip(shared, members(count: forwardingCount)) where set.contains(member) {
            lines.append(line)
        }
        if forwardingCount < shared.count { lines += shared[forwardingCount...] }
    }

    /// The lines of `shared` sent to an upstream with `set` that go into a call key (``CallKey``): those
    /// ``append(_:forwardingCount:for:to:)`` appends but X-Forwarded-For and X-Request-Id.
    static func keyed(_ shared: [String], forwardingCount: Int, for set: ContextHeaders) -> [String] {
        let keyedSet = set.subtracting([.forwardedFor, .requestID])
        var lines: [String] = []
        append(shared, forwardingCount: forwardingCount, for: keyedSet, to: &lines)
        return lines
    }
}

/// The forwarded-header lines that depend only on the client connection, made once per connection rather than
/// per request (each line built per request is an allocation and a copy of its bytes).
final class ForwardedPeer {
    /// The client's address, as `X-Forwarded-For` names it.
    let address: String
    /// `X-Forwarded-For: ADDRESS`: the line when the client sent no chain of its own.
    let forwardedForLine: String
    /// The last `Host` a request on this connection named, and its `X-Forwarded-Host` line: a keep-alive client
    /// sends the same one on every request.
    private var lastHost = ""
    private var lastHostLine = ""

    init(address: String) {
        self.address = address
        forwardedForLine = "X-Forwarded-For: " + address
    }

    /// `X-Forwarded-Host: HOST`, built only when `host` differs from the previous request's.
    func forwardedHostLine(_ host: String) -> String {
        if lastHostLine.isEmpty || host != lastHost {
            lastHost = host
            lastHostLine = "X-Forwarded-Host: " + host
        }
        return lastHostLine
    }
}

extension Substring {
    func trimmingSpaces() -> Substring {
        var s = self
        while let first = s.first, first == " " || first == "\t" { s.removeFirst() }
        while let last = s.last, last == " " || last == "\t" { s.removeLast() }
        return s
    }
}
