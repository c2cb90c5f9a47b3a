/// One HTTP/1.x response as ``RawHTTPClient`` read it off the wire.
public struct RawHTTPResponse: Sendable {
    /// The status code from the status line.
    public var status: Int
    /// Header fields in wire order, names as sent.
    public var headers: [(String, String)]
    /// The body: de-chunked for `Transfer-Encoding: chunked`, exactly `Content-Length` bytes otherwise, or
    /// everything up to EOF when the response had neither.
    public var body: [UInt8]

    /// The first value of header `name`, compared case-insensitively.
    public func header(_ name: String) -> String? {
        HTTPWire.value(of: name, in: self.headers)
    }

    /// The body decoded as UTF-8 (invalid bytes become U+FFFD).
    public var bodyText: String {
        HTTPWire.text(self.body)
    }
}
