/// What one call to `HTTPRequestParser.parse(_:)` produced.
public enum HTTPParseResult: Sendable, Equatable {
    /// Every byte given so far was accepted; call again with the same bytes plus more.
    case needMoreData
    /// A whole request; its bytes are the first `consumed` of the buffer. Bytes after them (a pipelined request)
    /// belong to the next message.
    case complete(HTTPRequest, consumed: Int)
    /// Head-first mode only: the head of a request that has a body. The caller drops `consumed` bytes, then
    /// calls `beginBody(limit:streamed:)` before parsing on.
    case head(HTTPRequestHead, consumed: Int)
    /// Streamed body only: body bytes at `range` of the buffer. The caller takes them, then drops `consumed`
    /// bytes (framing included) and parses on.
    case bodyPart(Range<Int>, consumed: Int)
    /// Streamed body only: the body (and its trailers) ended; the caller drops `consumed` bytes. Bytes after
    /// them belong to the next message.
    case bodyEnd(consumed: Int)
}
