/// The combined answer of a composite route, ready to be serialized by the runtime.
public struct StitchedResponse: Sendable {
    /// 200 when every required call succeeded (and at least `min_success` calls did); otherwise 504 if every
    /// failure that sank the route is a timeout, 503 if fanout held every one back (`circuit_open`,
    /// `overloaded`), else 502.
    public var status: Int
    /// The response body: valid JSON (an object unless `combine concat` or `combine only` gives another value).
    public var body: [UInt8]
    /// True iff every call succeeded; sent as `X-Fanout-Complete: true|false`.
    public var complete: Bool
    /// The `Server-Timing` header value: `name;dur=12.3` per call, failed calls adding `;desc="<kind>"`.
    public var serverTiming: String
    /// `call=kind, …` for failures that could not go into an `_errors` member because the body is not an
    /// object; sent as `X-Fanout-Errors`.
    public var errorsHeader: String?

    public init(status: Int, body: [UInt8], complete: Bool, serverTiming: String) {
        self.status = status
        self.body = body
        self.complete = complete
        self.serverTiming = serverTiming
    }
}
