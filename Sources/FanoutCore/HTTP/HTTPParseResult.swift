/// What one call to `HTTPRequestParser.parse(_:)` produced.
public enum HTTPParseResult: Sendable, Equatable {
    /// Every byte given so far was accepted; call again with the same bytes plus more.
    case needMoreData
    /// A whole request; its bytes are the first `consumed` of the buffer. Bytes after them (a pipelined request)
    /// belong to the next message.
    case complete(HTTPRequest, consumed: Int)
}
