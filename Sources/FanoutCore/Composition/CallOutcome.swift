/// What the runtime got back from libcurl for a completed transfer.
public struct UpstreamAnswer: Sendable {
    /// The HTTP status code.
    public var status: Int
    /// The `Content-Type` header value, if the upstream sent one.
    public var contentType: String?
    /// The whole response body.
    public var body: [UInt8]

    public init(status: Int, contentType: String?, body: [UInt8]) {
        self.status = status
        self.contentType = contentType
        self.body = body
    }
}

/// How one upstream call ended, before the stitcher judges the answer.
public enum CallResult: Sendable {
    /// The upstream sent a complete HTTP response (any status).
    case answered(UpstreamAnswer)
    /// No usable response: timeout, connection problem, size cap.
    case failed(CallFailure)
}

/// One finished upstream call of a composite route, as handed to ``ResponseStitcher``.
public struct CallOutcome: Sendable {
    /// The call's member name in the combined answer (a token: `[A-Za-z][A-Za-z0-9_-]*`).
    public var name: String
    /// Whether the route fails when this call fails (`required`, the default) or not (`optional`).
    public var required: Bool
    public var result: CallResult
    /// Wall time from sending the request to the end of the transfer (or the failure), in milliseconds.
    public var elapsedMs: Double

    public init(name: String, required: Bool, result: CallResult, elapsedMs: Double) {
        self.name = name
        self.required = required
        self.result = result
        self.elapsedMs = elapsedMs
    }
}
