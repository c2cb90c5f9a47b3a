/// Why one upstream call failed.
///
/// The `kind` strings are part of the public contract (docs/reference/failures.md): they appear in the
/// stitched `errors`/`_errors` objects, in `Server-Timing` and in the access log.
public enum CallFailure: Sendable, Equatable {
    /// The per-call timeout or the route deadline fired first. Kind `timeout`.
    case timeout
    /// A proxy route's streamed answer came slower than the route's `min_rate` (``RateBudget``). Kind `timeout`:
    /// like a silent upstream, the partner did not deliver in time; the message names the rate.
    case tooSlow(MinimumRate)
    /// The TCP connection was refused or there is no route to the host. Kind `refused`.
    case refused
    /// The host name did not resolve; the message is libcurl's. Kind `unreachable`. (A lookup or a connect
    /// that takes longer than `connect_timeout` is a `timeout`.)
    case unreachable(String)
    /// Reset, malformed or oversized head, bad framing (a body shorter or longer than its Content-Length, bad
    /// chunks)…; the message comes from libcurl or fanout. Kind `connection`.
    case connection(String)
    /// The TLS handshake failed: the partner's certificate did not verify (unknown CA, wrong name, expired),
    /// the partner refused our client certificate or asked for one we do not have, or a configured certificate
    /// or CA file could not be used; the message is libcurl's (OpenSSL's). Kind `tls`.
    case tls(String)
    /// The upstream answered with this non-2xx status. Kind `status`.
    case status(Int)
    /// The upstream declared a JSON content type but the body is not valid JSON. Kind `invalid_body`.
    case invalidBody
    /// A 2xx answer that is an HTML page (`text/html`, `application/xhtml+xml`): an error, maintenance or login
    /// page served with 200 by a partner or a box in front of it, never data. Kind `html_page`.
    case htmlPage
    /// The answer exceeded the configured byte cap. Kind `too_large`.
    case tooLarge
    /// Not called: the upstream's circuit breaker is open (`breaker`), after consecutive failures. Kind
    /// `circuit_open`.
    case circuitOpen
    /// Not called: `max_connections` calls were running and `max_queue` more were already waiting. Kind
    /// `overloaded`.
    case overloaded(queueLimit: Int)
    /// Not called: an input call failed, or its answer lacks a referenced field. Kind `skipped`.
    case skipped(String)
    /// A `for_each` list is longer than the route's `max_items`. Kind `too_many_items`.
    case tooManyItems(count: Int, limit: Int)
    /// Not called: no access token for the upstream's `oauth2` (the token endpoint failed, answered non-2xx or
    /// an unusable token, is backing off after such a failure, or had no token before the call's deadline).
    /// The message says which, never a secret. Kind `auth`.
    case auth(String)

    /// The stable machine-readable name of the failure.
    public var kind: String {
        switch self {
        case .timeout, .tooSlow: return "timeout"
        case .refused: return "refused"
        case .unreachable: return "unreachable"
        case .connection: return "connection"
        case .tls: return "tls"
        case .status: return "status"
        case .invalidBody: return "invalid_body"
        case .htmlPage: return "html_page"
        case .tooLarge: return "too_large"
        case .circuitOpen: return "circuit_open"
        case .overloaded: return "overloaded"
        case .skipped: return "skipped"
        case .tooManyItems: return "too_many_items"
        case .auth: return "auth"
        }
    }

    /// A short human-readable explanation.
    public var message: String {
        switch self {
        case .timeout: return "upstream did not answer in time"
        case .tooSlow(let rate): return "upstream sent its answer slower than min_rate \(rate)"
        case .refused: return "connection refused"
        case .unreachable(let detail): return detail.isEmpty ? "upstream unreachable" : detail
        case .connection(let detail): return detail.isEmpty ? "connection error" : detail
        case .tls(let detail): return detail.isEmpty ? "TLS handshake failed" : detail
        case .status(let code): return "upstream answered with status \(code)"
        case .invalidBody: return "upstream declared JSON but sent an invalid JSON body"
        case .htmlPage: return "upstream answered an HTML page, not data"
        case .tooLarge: return "upstream answer exceeds the configured size limit"
        case .circuitOpen: return "not called: the upstream failed repeatedly and its circuit breaker is open"
        case .overloaded(let limit): return "not called: the upstream's queue is full (max_queue \(limit))"
        case .skipped(let reason): return "not called: \(reason)"
        case .tooManyItems(let count, let limit): return "the list has \(count) items; max_items is \(limit)"
        case .auth(let detail): return "not called: no access token (\(detail))"
        }
    }
}

extension CallFailure {
    /// Whether the failure counts against the upstream's circuit breaker: the partner could not be reached or
    /// did not answer (`timeout`, `refused`, `unreachable`, `connection`, `tls`) or answered 5xx. A 4xx is
    /// about the request; `too_large`, `invalid_body` and `html_page` are answers (the partner is up, and fanout's own
    /// caps or checks turned them down); `skipped`, `too_many_items`, `circuit_open` and `overloaded` never
    /// reached the partner, nor does `auth` (the token endpoint failed, not the partner).
    public var countsAgainstBreaker: Bool {
        switch self {
        case .timeout, .tooSlow, .refused, .unreachable, .connection, .tls: return true
        case .status(let code): return code >= 500
        case .invalidBody, .htmlPage, .tooLarge, .skipped, .tooManyItems, .circuitOpen, .overloaded, .auth:
            return false
        }
    }
}

extension CallFailure: CustomStringConvertible {
    /// `kind: message`, for log lines.
    public var description: String { "\(self.kind): \(self.message)" }
}

extension CallFailure {
    /// fanout held the call back to protect the partner (`circuit_open`, `overloaded`): the partner was not
    /// asked this time. A required call failing only this way makes the answer a 503, as for proxy routes.
    public var wasNotAttempted: Bool {
        switch self {
        case .circuitOpen, .overloaded: return true
        default: return false
        }
    }
}

extension CallFailure {
    /// The status fanout answers when this failure sinks a request (a proxy route's call, or every failure of a
    /// composite route that failed alike): 504 when the partner did not answer in time (`timeout`, including
    /// `min_rate`), 503 when fanout did not call it (``wasNotAttempted``, Envoy's UO/UH), 502 otherwise.
    public var gatewayStatus: Int {
        switch self {
        case .timeout, .tooSlow: return 504
        case .circuitOpen, .overloaded: return 503
        default: return 502
        }
    }

    /// The status of an answer sunk by `failures` (a composite route's required calls, or every call under
    /// `min_success`): their ``gatewayStatus`` when every failure other than `skipped` has the same one, else
    /// 502. A `skipped` call followed another's failure, so it does not decide; all skipped is a 502.
    public static func gatewayStatus(of failures: some Sequence<CallFailure>) -> Int {
        var status: Int?
        for failure in failures where failure.kind != "skipped" {
            if let status, status != failure.gatewayStatus { return 502 }
            status = failure.gatewayStatus
        }
        return status ?? 502
    }
}
