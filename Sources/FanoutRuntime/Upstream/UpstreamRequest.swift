import FanoutCore

/// One HTTP request to an upstream, fully built: URL rendered from a template, header lines validated.
struct UpstreamRequest {
    var method: String
    /// Absolute URL; its scheme, host and port come from configuration only.
    var url: String
    /// `Name: value` lines. Every value was checked for CR, LF and NUL before it got here.
    var headers: [String]
    var body: [UInt8]?
    /// The admission-control bucket: `RuntimeConfig.admissionSlots[upstream index]` of the configuration
    /// the request was dispatched with.
    var slot: AdmissionSlot
    var connectTimeoutMs: Int
    /// This call's own limit; the transfer also never outlives `deadline`.
    var timeoutMs: Int
    /// Monotonic nanoseconds after which the call counts as timed out, queue time included.
    var deadline: UInt64
    var maxResponseBytes: Int
    /// Keep every response header (plain proxy routes); composite calls only need Content-Type.
    var captureHeaders: Bool
    /// A non-idempotent request (POST, PATCH…): sent on a new connection, so libcurl never resends it.
    var mustNotRepeat: Bool = false
}

/// A complete upstream answer.
struct UpstreamResponse {
    var status: Int
    var contentType: String?
    /// Every response header when the request asked for them, else empty.
    var headers: [(String, String)]
    var body: [UInt8]
}

/// What an upstream call came to, and how long it took (queue time included).
struct UpstreamResult {
    var outcome: Result<UpstreamResponse, CallFailure>
    var elapsedMs: Double
}

extension CallFailure: Error {}
