/// The sizes `HTTPRequestParser` accepts, enforced while bytes arrive (never after the fact).
///
/// Each limit fires as soon as the running count passes it, even when the line or terminator it belongs to has
/// not arrived yet, so a client cannot make the server buffer more than the limit.
public struct HTTPParserLimits: Sendable, Equatable {
    /// Longest request line in bytes, CRLF excluded; empty lines before it count too. Over it → `.requestLineTooLong`
    /// (414). A method longer than `maxMethodBytes` is `.methodTooLong` (501) instead. Default 8 KiB.
    public var maxRequestLineBytes: Int
    /// All header field lines together, each with its CRLF; trailer fields of a chunked body count against the same
    /// budget. Over it → `.headersTooLarge` (431). Default 32 KiB.
    public var maxHeaderBytes: Int
    /// Number of header fields (trailer fields included). Over it → `.tooManyHeaders` (431). Default 100.
    public var maxHeaderCount: Int
    /// Request body bytes: decided from Content-Length when the head completes, or from the running total of chunk
    /// sizes as each size is read. Over it → `.bodyTooLarge` (413). Default 1 MiB.
    public var maxBodyBytes: Int
    /// Bytes of chunk extensions on one chunk-size line (from the first `;` to the CR). Over it → `.invalidChunk`
    /// (400). Default 4 KiB.
    public var maxChunkExtensionBytes: Int

    /// The longest method accepted; longer ones are `.methodTooLong` (501, RFC 9112 §3). Fixed at 20 bytes.
    public static let maxMethodBytes = 20

    /// The defaults listed on each property.
    public init() {
        self.maxRequestLineBytes = 8 * 1024
        self.maxHeaderBytes = 32 * 1024
        self.maxHeaderCount = 100
        self.maxBodyBytes = 1024 * 1024
        self.maxChunkExtensionBytes = 4 * 1024
    }

    /// The parser limits configured in `proxy.conf`; `maxChunkExtensionBytes` keeps its default.
    public init(_ limits: ServerLimits) {
        self.init()
        self.maxRequestLineBytes = limits.maxRequestLineBytes
        self.maxHeaderBytes = limits.maxHeaderBytes
        self.maxHeaderCount = limits.maxHeaderCount
        self.maxBodyBytes = limits.maxBodyBytes
    }
}
