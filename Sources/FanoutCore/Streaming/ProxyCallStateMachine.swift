/// The decisions of one `proxy` route's call, without any I/O: the runtime (`ProxyExchange`) reports what the
/// transfer, the client and its one watch timer did, and carries out what comes back.
///
/// Phases: `awaitingHead` (the call runs, no head has come from the partner) → `streaming` (the partner's head
/// went to the client and its body streams; `paused` while the client's output is full and the transfer waits
/// for it) → `finished` (answered, failed, cut or cancelled; nothing more happens). The phase a call ends from
/// decides how its answer ends: before the head the client still gets a whole answer (the partner's, or a
/// 502/504), after it the streamed answer is ended or aborted.
///
/// Two limits watch the partner, both pure values here: the route's `timeout` as an ``IdleLimit`` (no byte
/// moved for that long), and, once the head came, `min_rate` as the answer body's ``RateBudget``. Time the
/// transfer spends paused for the client counts against neither. Time is an injected monotonic clock in
/// nanoseconds.
public struct ProxyCallStateMachine: Sendable, Equatable {
    public enum Phase: Sendable, Equatable {
        /// The call runs; the partner's head has not come.
        case awaitingHead
        /// The partner's head (`status`) went to the client; its body streams. `paused`: the client's output
        /// refused the last bytes, and the transfer waits until the client takes what it has.
        case streaming(status: Int, paused: Bool)
        /// Answered, failed, cut or cancelled.
        case finished

        /// Whether the partner's head went to the client (the answer streams).
        public var isStreaming: Bool {
            if case .streaming = self { return true }
            return false
        }
    }

    public private(set) var phase: Phase = .awaitingHead
    /// The route's `timeout`, from the call's start.
    public private(set) var idle: IdleLimit
    /// The route's `min_rate`; nil when it sets none.
    public let minRate: MinimumRate?
    /// The answer body's `min_rate` budget, from the head on.
    public private(set) var answerBudget: RateBudget?

    /// A call that starts at `start`, with the route's `timeout` (milliseconds) and `min_rate`.
    public init(timeoutMs: Int, minRate: MinimumRate?, start: UInt64) {
        self.idle = IdleLimit(milliseconds: timeoutMs, start: start)
        self.minRate = minRate
    }

    public var isFinished: Bool { phase == .finished }

    /// Whether the partner's head went to the client (the answer streams).
    public var isStreaming: Bool { phase.isStreaming }

    /// Whether the transfer waits for the client to take its output.
    public var isPaused: Bool {
        if case .streaming(_, true) = phase { return true }
        return false
    }

    /// The partner's status once its head came (the access-log line of an answer the client abandoned names it).
    public var headStatus: Int? {
        if case .streaming(let status, _) = phase { return status }
        return nil
    }

    /// Something moved that the idle limit counts besides the answer: the partner took bytes of the client's
    /// body, or a wait on the client ended.
    public mutating func noteProgress(at now: UInt64) {
        idle.noteProgress(at: now)
    }

    /// The partner's head came at `now` and goes to the client: the answer streams, and its `min_rate` budget
    /// (if any) starts full. The watch may now be due earlier: see ``watchDeadline``.
    public mutating func headArrived(status: Int, at now: UInt64) {
        guard phase == .awaitingHead else { return }
        phase = .streaming(status: status, paused: false)
        idle.noteProgress(at: now)
        if let minRate { answerBudget = RateBudget(minRate, start: now) }
    }

    /// The client's connection took `count` answer bytes at `now`.
    public mutating func bodyTaken(_ count: Int, at now: UInt64) {
        idle.noteProgress(at: now)
        answerBudget?.bytesMoved(count, at: now)
    }

    /// The client's connection refused answer bytes at `now` (its output is full): the transfer pauses, and the
    /// answer's budget stops running until the client takes its output.
    public mutating func bodyRefused(at now: UInt64) {
        guard case .streaming(let status, _) = phase else { return }
        phase = .streaming(status: status, paused: true)
        answerBudget?.pause(at: now)
    }

    /// The client took its output at `now`. Returns true when the transfer was paused for it and must be
    /// resumed now; neither limit ran meanwhile, so both start again from `now`.
    public mutating func clientTookOutput(at now: UInt64) -> Bool {
        guard case .streaming(let status, true) = phase else { return false }
        phase = .streaming(status: status, paused: false)
        idle.noteProgress(at: now)
        answerBudget?.resume(at: now)
        return true
    }

    /// When the watch timer fires next: the idle deadline, or the answer budget's when that is earlier and
    /// running. Progress only moves both later, so a timer armed for an earlier time stays: it finds the new
    /// deadline when it fires.
    public var watchDeadline: UInt64 {
        var at = idle.deadline
        if let budget = answerBudget, budget.pausedAt == nil { at = min(at, budget.deadline) }
        return at
    }

    /// What the runtime does when the watch timer fires.
    public enum WatchVerdict: Sendable, Equatable {
        /// The call has ended already: nothing.
        case ended
        /// Cut the call as timed out, with this failure: `timeout` (the partner stayed silent for the whole
        /// limit) or `tooSlow` (the answer's body spent its `min_rate` budget). The call is not finished yet:
        /// the runtime cancels the transfer and then calls ``finish()``.
        case cut(CallFailure)
        /// Not yet: arm the timer again for this time.
        case checkAgain(at: UInt64)
    }

    /// The watch timer fired at `now`. `clientIsBehind`: the client holds things up at this moment (its output
    /// is not all written, or the request body waits for its bytes), which is not the partner's silence and
    /// starts the idle limit afresh, as a paused transfer does.
    public mutating func watchFired(at now: UInt64, clientIsBehind: Bool) -> WatchVerdict {
        if phase == .finished { return .ended }
        if let budget = answerBudget, budget.isSpent(at: now) { return .cut(.tooSlow(budget.rate)) }
        switch idle.check(now: now, waitingOnClient: clientIsBehind || isPaused) {
        case .expired:
            return .cut(.timeout)
        case .checkAgain:
            return .checkAgain(at: watchDeadline)
        }
    }

    /// The call ends: answered, failed, cut or cancelled. Returns the phase it ended from (how its answer ends),
    /// or nil when it had ended already: an ending happens once.
    public mutating func finish() -> Phase? {
        if phase == .finished { return nil }
        defer { phase = .finished }
        return phase
    }
}
