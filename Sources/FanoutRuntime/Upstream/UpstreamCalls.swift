import FanoutCore

/// One layer of the path a composite call takes to its upstream, top to bottom: the call cache
/// (``CallCache``), single-flight coalescing (``CallCoalescer``), hedges and retries (``CallAttempts``), then
/// admission and libcurl (``UpstreamClient``). Each layer holds the one below as this protocol (a generic
/// parameter, so the calls are direct in a release build, not through an existential), which lets a test put
/// a scripted fake under any of them.
///
/// Used on the loop thread only.
protocol UpstreamCalls: AnyObject {
    /// What ``start(_:completion:)`` returns, to cancel the call with: each layer's own type.
    associatedtype Handle

    /// Starts `request`; `completion` runs on the loop thread exactly once, unless ``cancel(_:timedOut:)`` is
    /// called first. It may run before this returns (an answer from the cache, a refusal on the spot).
    /// `request` is consumed: each layer hands it on to the next without a copy (a copy of its Strings and
    /// arrays cost about 290 instructions per call, callgrind).
    func start(_ request: consuming UpstreamRequest, completion: CallCompletion) -> Handle

    /// Stops a call without running its completion. `timedOut`: the caller gave up on it (a route deadline, an
    /// idle limit), which counts against the upstream's breaker; otherwise its outcome is unknown.
    func cancel(_ handle: Handle, timedOut: Bool)

    /// Lets a call go because its caller left (the client went away): its completion does not run, as with
    /// ``cancel(_:timedOut:)``, and nothing more is sent for it (no retry, no hedge), but an attempt already
    /// sent runs on unseen for up to its upstream's `abort_grace` (``CallPolicy/abortGraceMs``), so the
    /// partner's answer is read and its keep-alive connection is kept for the next call instead of closed.
    func release(_ handle: Handle)

    /// Whether a call in `slot` started now would go to the partner at once (breaker closed, a connection place
    /// free with none waiting, a `rate` token there): a hedge is only sent then.
    func admitsAtOnce(_ slot: AdmissionSlot) -> Bool
}

/// The bottom layer: admission and libcurl (its ``TransferID`` is the handle).
extension UpstreamClient: UpstreamCalls {}
