/// Which composite calls may be sent more than once (`hedge`, `retries`), and which outcomes of one attempt
/// are worth another: the pure rules behind the runtime's attempts layer (docs/reference/partner-protection.md).
public enum AttemptPolicy {
    /// The most `retries` a call or upstream may set.
    public static let maxRetries = 5
    /// The pause before a retry: a random whole number of milliseconds in this range.
    public static let backoffMs = 25...50
    /// A retry is made only when at least this much of the call's time is left after its pause.
    public static let minimumRetryRoomMs = 10

    /// Retries are for methods RFC 9110 §9.2.2 calls idempotent (GET, HEAD, OPTIONS, TRACE, PUT, DELETE):
    /// sending the request again after a failure has the effect of sending it once.
    public static func allowsRetries(method: String) -> Bool {
        HTTPMethod.isIdempotent(method)
    }

    /// Hedges are stricter: only safe methods (§9.2.1: GET, HEAD, OPTIONS, TRACE). A hedge runs while the
    /// first copy may still be in progress, so two copies of a PUT or DELETE could interleave with another
    /// client's write, and the copy that answers first could be the one that found the work done (a DELETE's
    /// 404).
    public static func allowsHedging(method: String) -> Bool {
        switch method {
        case "GET", "HEAD", "OPTIONS", "TRACE": return true
        default: return false
        }
    }

    /// Whether an answer with `status` is worth another attempt: 502, 503 and 504, what a gateway or an
    /// overloaded partner answers for a failure that the next try may not meet.
    public static func isRetryable(status: Int) -> Bool {
        status == 502 || status == 503 || status == 504
    }

    /// Whether an attempt that got no usable answer is worth another: a refused or broken connection
    /// (`refused`, `connection`), a `timeout` (in practice a connect timeout: an attempt that used up the
    /// call's time leaves no room for another), and a 502/503/504 `status`. Not a name that did not resolve
    /// (`unreachable`), a TLS failure (`tls`: a certificate that does not verify fails the same way again), a refusal by fanout's own admission (`circuit_open`, `overloaded`: another attempt
    /// adds load where load is the problem), nor an answer fanout turned down (`too_large`, `invalid_body`,
    /// `html_page`).
    public static func isRetryable(_ failure: CallFailure) -> Bool {
        switch failure {
        case .timeout, .refused, .connection: return true
        case .status(let code): return isRetryable(status: code)
        // `tooSlow` only ends a streamed proxy answer, which is never repeated.
        // `auth`: the token endpoint backs off after a failure; an `oauth2` 401 is retried where it happens.
        case .unreachable, .tls, .tooSlow, .invalidBody, .htmlPage, .tooLarge, .circuitOpen, .overloaded, .skipped,
            .tooManyItems, .auth:
            return false
        }
    }
}
