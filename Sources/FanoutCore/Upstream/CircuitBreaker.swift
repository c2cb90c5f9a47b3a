/// `breaker FAILURES COOLDOWN` of one upstream.
public struct BreakerSettings: Sendable, Equatable {
    /// Consecutive failed calls that open the breaker (1 or more).
    public var failures: Int
    /// How long an open breaker fails calls fast before it lets one probe call through, in milliseconds.
    public var cooldownMs: Int

    public init(failures: Int, cooldownMs: Int) {
        self.failures = failures
        self.cooldownMs = cooldownMs
    }
}

/// The circuit breaker of one upstream on one worker: a pure state machine driven by the outcomes of calls
/// and an injected monotonic clock (nanoseconds), with no I/O.
///
/// - `closed`: calls go through; `failures` consecutive failed calls open it (a success resets the count).
/// - `open`: calls fail fast (``allows(now:)`` is false) until the cool-down has passed.
/// - `halfOpen`: after the cool-down, exactly one call (the probe) goes through; the others keep failing
///   fast. The probe's success closes the breaker, its failure opens it for another cool-down, and an
///   abandoned probe (cancelled by its client) lets the next call be the probe.
///
/// Only the probe decides a half-open breaker: calls started before the breaker opened may finish while it
/// is open or half-open, and their outcomes are ignored there.
public struct CircuitBreaker: Sendable, Equatable {
    public enum State: Sendable, Equatable {
        case closed(consecutiveFailures: Int)
        /// Open until the monotonic time `until`; the first call at or after it becomes the probe.
        case open(until: UInt64)
        case halfOpen(probeInFlight: Bool)
    }

    public var settings: BreakerSettings
    public internal(set) var state: State = .closed(consecutiveFailures: 0)
    /// How many times the breaker opened (from closed or from a failed probe).
    public private(set) var opens: UInt64 = 0

    public init(settings: BreakerSettings) {
        self.settings = settings
    }

    /// Whether a call may start now. A false answer means: fail the call at once (`circuit_open`).
    public func allows(now: UInt64) -> Bool {
        switch state {
        case .closed: return true
        case .open(let until): return now >= until
        case .halfOpen(let probeInFlight): return !probeInFlight
        }
    }

    /// Records a call that ``allows(now:)`` let through and that is being started now. Returns true when the
    /// call is the half-open probe; pass that back with its outcome.
    public mutating func callStarted(now: UInt64) -> Bool {
        switch state {
        case .closed:
            return false
        case .open(let until):
            guard now >= until else { return false }
            state = .halfOpen(probeInFlight: true)
            return true
        case .halfOpen:
            state = .halfOpen(probeInFlight: true)
            return true
        }
    }

    /// The partner answered (any status it is not blamed for).
    public mutating func callSucceeded(wasProbe: Bool) {
        switch state {
        case .closed:
            state = .closed(consecutiveFailures: 0)
        case .halfOpen where wasProbe:
            state = .closed(consecutiveFailures: 0)
        case .open, .halfOpen:
            break
        }
    }

    /// The call failed in a way that blames the partner (transport failure, 5xx).
    public mutating func callFailed(wasProbe: Bool, now: UInt64) {
        switch state {
        case .closed(let failures):
            if failures + 1 >= settings.failures {
                open(now: now)
            } else {
                state = .closed(consecutiveFailures: failures + 1)
            }
        case .halfOpen where wasProbe:
            open(now: now)
        case .open, .halfOpen:
            break
        }
    }

    /// The call ended without an outcome (its client went away); a probe's place goes to the next call.
    public mutating func callAbandoned(wasProbe: Bool) {
        if wasProbe, case .halfOpen = state { state = .halfOpen(probeInFlight: false) }
    }

    private mutating func open(now: UInt64) {
        state = .open(until: now &+ UInt64(max(0, settings.cooldownMs)) &* 1_000_000)
        opens &+= 1
    }
}
