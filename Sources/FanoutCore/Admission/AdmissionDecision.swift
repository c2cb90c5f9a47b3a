/// What an ``AdmissionController`` answers a new call.
public enum Admission: Sendable, Equatable {
    /// Start the call now. `isProbe`: it is its breaker's half-open probe (pass that back to
    /// ``AdmissionController/finished(slot:wasProbe:outcome:now:fleet:)``).
    case start(isProbe: Bool)
    /// The call waits in its slot's queue; the actions are what queueing it set off (a rate timer to arm, or
    /// queued calls, the new one among them, that may start).
    case queued(AdmissionActions)
    /// Fail the call at once: `overloaded` (the queue is full), `circuitOpen` (the breaker is open) or
    /// `timeout` (its deadline is less than a millisecond away).
    case fail(CallFailure)
}

/// How a call that was started ended, for its slot's breaker.
public enum AdmissionOutcome: Sendable, Equatable {
    /// The partner answered with a status it is not blamed for.
    case succeeded
    /// A failure that blames the partner (``CallFailure/countsAgainstBreaker``), or a caller that gave up on a
    /// silent partner.
    case failed
    /// The call ended without an outcome (cancelled by its client, or it could not be started).
    case abandoned
}

/// What the runtime carries out for queued calls, in this order: start or fail them, then arm a rate timer.
/// Empty on the common path (no queue), where it allocates nothing.
public struct AdmissionActions: Sendable, Equatable {
    /// A queued call's fate, in queue order.
    public enum Step: Sendable, Equatable {
        /// Start queued call `id` now (its place is already counted as in flight).
        case start(id: UInt64, isProbe: Bool)
        /// Fail queued call `id` now: `timeout` (its deadline passed while it waited) or `circuitOpen` (its
        /// breaker opened while it waited).
        case fail(id: UInt64, CallFailure)
    }

    /// A slot's `rate` timer to arm: call ``AdmissionController/timerFired(slot:now:fleet:)`` at `deadline`
    /// (monotonic nanoseconds).
    public struct RateTimer: Sendable, Equatable {
        public var slot: Int
        public var deadline: UInt64

        public init(slot: Int, deadline: UInt64) {
            self.slot = slot
            self.deadline = deadline
        }
    }

    public var steps: [Step] = []
    public var rateTimers: [RateTimer] = []

    public init(steps: [Step] = [], rateTimers: [RateTimer] = []) {
        self.steps = steps
        self.rateTimers = rateTimers
    }

    public var isEmpty: Bool { steps.isEmpty && rateTimers.isEmpty }
}
