/// What makes two composite calls identical for single-flight coalescing and for the call cache: the key both
/// use, and (with a `store`) the key of the shared entry on every replica (``SharedCacheKeys``), so its bytes
/// are part of the contract (docs/reference/caching.md).
public enum CallKey {
    /// The key of a call, nil for a call that is never merged nor cached (not GET or HEAD, or with a body).
    ///
    /// It holds the method, the URL, every header line sent except the per-request ones (X-Forwarded-For,
    /// X-Request-Id, traceparent, tracestate: an answer whose `Vary` names one of them is not cached, see
    /// `CacheFreshness.unkeyedRequestHeaders`), the `Accept-Encoding` libcurl adds, the upstream's name and
    /// the transfer's configured limits. Nothing in it is particular to one process (the upstream's name, not
    /// its admission slot's number), so it is the same on every replica with the same configuration. Header
    /// lines cannot hold a newline (checked before they get here), so the key is unambiguous.
    ///
    /// - Parameters:
    ///   - callHeaders: the upstream's and the call's own header lines, in the order sent.
    ///   - sharedKeyHeaders: the lines forwarded from the client, without the per-request ones
    ///     (``keyedLines(_:)``).
    ///   - contentTypeLine: the call's `Content-Type` line, when it has one.
    ///   - allHeaders: the answer is kept with all its headers (`pass_header`): not the same entry as one kept
    ///     without.
    public static func coalescing(
        method: String, url: String, hasBody: Bool, upstreamName: String, connectTimeoutMs: Int,
        maxResponseBytes: Int, maxRedirects: Int, acceptEncoding: String?, callHeaders: [String],
        sharedKeyHeaders: [String], contentTypeLine: String?, allHeaders: Bool
    ) -> String? {
        guard !hasBody, method == "GET" || method == "HEAD" else { return nil }
        // Bytes appended into one buffer sized first, one String made at the end: interpolation, a
        // `line + "\n"` temporary per header line and `String.append` (about 340 instructions each) cost about
        // 10k instructions per call (callgrind, a wide fan-out); this about 2k.
        var capacity = method.utf8.count + url.utf8.count + upstreamName.utf8.count + 72
        capacity += (acceptEncoding?.utf8.count ?? 0) + (contentTypeLine?.utf8.count ?? 0)
        for line in callHeaders { capacity += line.utf8.count + 1 }
        for line in sharedKeyHeaders { capacity += line.utf8.count + 1 }
        var key: [UInt8] = []
        key.reserveCapacity(capacity)
        let space = UInt8(ascii: " ")
        let newline = UInt8(ascii: "\n")
        key.append(contentsOf: method.utf8)
        key.append(space)
        key.append(contentsOf: url.utf8)
        key.append(newline)
        key.append(contentsOf: upstreamName.utf8)
        key.append(space)
        key.append(contentsOf: String(connectTimeoutMs).utf8)
        key.append(space)
        key.append(contentsOf: String(maxResponseBytes).utf8)
        key.append(space)
        key.append(contentsOf: String(maxRedirects).utf8)
        key.append(space)
        if let acceptEncoding { key.append(contentsOf: acceptEncoding.utf8) }
        key.append(newline)
        for line in callHeaders {
            key.append(contentsOf: line.utf8)
            key.append(newline)
        }
        for line in sharedKeyHeaders {
            key.append(contentsOf: line.utf8)
            key.append(newline)
        }
        if let contentTypeLine { key.append(contentsOf: contentTypeLine.utf8) }
        if allHeaders { key.append(contentsOf: "\nall headers".utf8) }
        return String(decoding: key, as: UTF8.self)
    }

    /// The forwarded header lines that go into a key: all but those that differ on every request
    /// (X-Forwarded-For, X-Request-Id).
    public static func keyedLines(_ forwardedLines: [String]) -> [String] {
        forwardedLines.filter { !$0.hasPrefix("X-Forwarded-For:") && !$0.hasPrefix("X-Request-Id:") }
    }
}
