import FanoutCore

/// Turns one composite call into attempts: a hedge (a second copy when the first has no answer after
/// `hedge`) and retries (after a connection failure or a 502/503/504), within the upstream's retry budget.
/// It sits between ``CallCoalescer`` and ``UpstreamClient``: a shared transfer is hedged or retried once for
/// all its waiters, and every attempt goes through the client's admission (connection places, queue, `rate`,
/// breaker) and counts as its own outcome for the breaker.
///
/// - Only calls that qualify get attempts: a buffered request (no streamed body, no streamed answer), an
///   idempotent method for retries and a safe one for hedges (``AttemptPolicy``). Every other call goes to the
///   client unchanged.
/// - The call's time is fixed at its start: every attempt ends by the earlier of the call's `timeout` from
///   then and the route deadline.
/// - The first attempt whose outcome is not retryable wins; the others are cancelled (their connections are
///   closed, and the breaker counts them as abandoned). A retryable outcome while another attempt runs waits
///   for that one; when the last attempt ends retryable, a retry follows after a short jittered pause if one
///   is left, the budget allows it and the call's time has room; otherwise that outcome is the call's.
/// - A hedge is sent once per call, only when the client would start it at once (``UpstreamCalls/admitsAtOnce(_:)``)
///   and the budget allows it.
///
/// One per worker, used on its loop thread only. Completions never run inside a libcurl callback (the
/// client's completions run after `curl_multi_info_read` is drained), so cancelling a losing attempt from a
/// completion is safe. `Below` is the client in a worker, a scripted fake in tests.
final class CallAttempts<Below: UpstreamCalls>: UpstreamCalls {
    /// A call as this layer hands it out: passed to the layer below unchanged, or made of attempts.
    enum Handle {
        case below(Below.Handle)
        case attempts(CallID)
    }

    /// Numbers the calls made of attempts.
    struct CallID: Hashable {
        let raw: UInt64
    }

    private let loop: EventLoop
    private let client: Below
    private var calls: [CallID: Call] = [:]
    private var nextID: UInt64 = 1
    /// Per admission slot (`AdmissionSlot.raw`, small and dense): an array, not a dictionary, since every
    /// composite call touches it.
    private var budgets: [RetryBudget?] = []
    /// Read by `Worker.metricsSnapshot()` on the loop thread: retries and hedges sent, hedges whose answer
    /// won, and retries or hedges the budget refused, per upstream name.
    private(set) var counters = UpstreamCallCounters()

    /// One logical call and its attempts.
    private final class Call {
        let id: CallID
        /// The request every attempt sends; its `deadline` is the call's end.
        let request: UpstreamRequest
        let startedAt: UInt64
        var completion: CallCompletion?
        var retriesLeft: Int
        /// Attempts started so far; an attempt's number is its 1-based position.
        var attempts = 0
        var hedgeNumber: Int?
        /// Attempts in flight, by number; a transfer id is missing while `client.start` has not returned.
        var running: Set<Int> = []
        var transfers: [Int: Below.Handle] = [:]
        var hedgeTimer: TimerID?
        var retryTimer: TimerID?

        init(id: CallID, request: UpstreamRequest, startedAt: UInt64, completion: CallCompletion) {
            self.id = id
            self.request = request
            self.startedAt = startedAt
            self.completion = completion
            retriesLeft = request.policy.retries
        }
    }

    init(loop: EventLoop, client: Below) {
        self.loop = loop
        self.client = client
    }

    /// Starts `request`, with a hedge and retries when it qualifies; `completion` runs on the loop thread,
    /// exactly once, unless ``cancel(_:timedOut:)`` is called first (it may run before this returns, when
    /// the client refuses the first attempt on the spot).
    func start(_ request: consuming UpstreamRequest, completion: CallCompletion) -> Handle {
        countStarted(in: request.policy.slot, percent: request.policy.retryBudgetPercent)
        // The method is looked at only for a call with a hedge or retries configured, and without a closure: the
        // `flatMap` over `hedgeDelayMs` captured the request and copied a field of it on every call.
        var hedgeDelayMs: Int?
        if let delay = request.policy.hedgeDelayMs, delay > 0,
            AttemptPolicy.allowsHedging(method: request.message.method)
        {
            hedgeDelayMs = delay
        }
        var retries = 0
        if request.policy.retries > 0, AttemptPolicy.allowsRetries(method: request.message.method) {
            retries = request.policy.retries
        }
        // Whether the call is buffered is asked only of a call with a hedge or retries: each `hooks` field read
        // here was copied out first (an outlined copy, about 80 instructions per call, callgrind).
        guard hedgeDelayMs != nil || retries > 0,
            request.hooks.receiver == nil && request.hooks.bodySource == nil && !request.policy.mustNotRepeat
        else {
            return .below(client.start(request, completion: completion))
        }

        let id = CallID(raw: nextID)
        nextID += 1
        var attemptRequest = request
        attemptRequest.policy.deadline = min(
            attemptRequest.policy.deadline, loop.now &+ UInt64(max(0, attemptRequest.policy.timeoutMs)) &* 1_000_000)
        attemptRequest.policy.retries = retries
        let call = Call(id: id, request: attemptRequest, startedAt: loop.now, completion: completion)
        calls[id] = call
        if let hedgeDelayMs, remainingMs(call) > hedgeDelayMs {
            call.hedgeTimer = loop.schedule(afterMilliseconds: hedgeDelayMs) { [weak self, weak call] in
                guard let self, let call else { return }
                call.hedgeTimer = nil
                self.hedgeDue(call)
            }
        }
        launchAttempt(call)
        return .attempts(id)
    }

    /// Stops a call without running its completion, cancelling every attempt in flight. `timedOut`: the
    /// route's deadline ended it, which counts against the upstream's breaker once per attempt in flight.
    func cancel(_ handle: Handle, timedOut: Bool = false) {
        stop(handle) { client.cancel($0, timedOut: timedOut) }
    }

    /// Lets a call go (``UpstreamCalls/release(_:)``): no retry or hedge is sent any more; the attempts in
    /// flight are let go below.
    func release(_ handle: Handle) {
        stop(handle) { client.release($0) }
    }

    /// What ``cancel(_:timedOut:)`` and ``release(_:)`` share: the call ends here, and `stopBelow` stops each
    /// of its transfers below.
    private func stop(_ handle: Handle, below stopBelow: (Below.Handle) -> Void) {
        switch handle {
        case .below(let below):
            stopBelow(below)
        case .attempts(let id):
            guard let call = calls.removeValue(forKey: id) else { return }
            end(call, stoppingAttempts: stopBelow)
        }
    }

    func admitsAtOnce(_ slot: AdmissionSlot) -> Bool {
        client.admitsAtOnce(slot)
    }

    // MARK: - Attempts

    private func launchAttempt(_ call: Call) {
        call.attempts += 1
        let number = call.attempts
        call.running.insert(number)
        let transfer = client.start(call.request) { [weak self, weak call] result in
            guard let self, let call else { return }
            self.attemptFinished(call, number, result)
        }
        // The client may have reported already (a refusal on the spot).
        if call.running.contains(number) { call.transfers[number] = transfer }
    }

    private func hedgeDue(_ call: Call) {
        guard calls[call.id] === call, call.hedgeNumber == nil, call.running.count == 1 else { return }
        loop.refreshNow()
        guard remainingMs(call) > 0, client.admitsAtOnce(call.request.policy.slot) else { return }
        guard spendBudget(call) else { return }
        counters.hedges[call.request.policy.upstreamName, default: 0] &+= 1
        call.hedgeNumber = call.attempts + 1
        launchAttempt(call)
    }

    private func attemptFinished(_ call: Call, _ number: Int, _ result: UpstreamResult) {
        guard calls[call.id] === call, call.running.remove(number) != nil else { return }
        call.transfers[number] = nil
        let retryable: Bool
        switch result.outcome {
        case .success(let answer): retryable = AttemptPolicy.isRetryable(status: answer.status)
        case .failure(let failure): retryable = AttemptPolicy.isRetryable(failure)
        }
        if retryable && !call.running.isEmpty { return }  // the other attempt may still answer
        if retryable && call.retriesLeft > 0 {
            let pauseMs = Int.random(in: AttemptPolicy.backoffMs)
            loop.refreshNow()
            if remainingMs(call) >= pauseMs + AttemptPolicy.minimumRetryRoomMs && spendBudget(call) {
                call.retriesLeft -= 1
                counters.retries[call.request.policy.upstreamName, default: 0] &+= 1
                call.retryTimer = loop.schedule(afterMilliseconds: pauseMs) { [weak self, weak call] in
                    guard let self, let call, self.calls[call.id] === call else { return }
                    call.retryTimer = nil
                    self.loop.refreshNow()
                    self.launchAttempt(call)
                }
                return
            }
        }
        let hedgeWon = !retryable && number == call.hedgeNumber
        if hedgeWon { counters.hedgeWins[call.request.policy.upstreamName, default: 0] &+= 1 }
        calls[call.id] = nil
        end(call) { client.cancel($0, timedOut: false) }
        guard let completion = call.completion else { return }
        call.completion = nil
        loop.refreshNow()
        completion(
            UpstreamResult(
                outcome: result.outcome, elapsedMs: Double(loop.now &- call.startedAt) / 1_000_000,
                attempts: call.attempts, hedgeWon: hedgeWon))
    }

    /// Stops the call's timers and its attempts in flight (`stopAttempt`: cancelled or let go below); the call
    /// is already out of `calls`, so an attempt that reports meanwhile is ignored.
    private func end(_ call: Call, stoppingAttempts stopAttempt: (Below.Handle) -> Void) {
        if let timer = call.hedgeTimer { loop.cancel(timer) }
        if let timer = call.retryTimer { loop.cancel(timer) }
        call.hedgeTimer = nil
        call.retryTimer = nil
        let transfers = call.transfers.values
        call.running.removeAll()
        call.transfers.removeAll()
        for transfer in transfers { stopAttempt(transfer) }
    }

    /// Counts a call started in `slot`'s retry budget (made on the slot's first call), under the slot's current
    /// `retry_budget` (`percent`). The budget is changed in place through one optional access: each
    /// `budgets[slot]!` copied the optional out and back (about 300 instructions per call, callgrind). Given the
    /// two fields, not the call's `CallPolicy`, which was copied to be passed (its Strings retained).
    private func countStarted(in admissionSlot: AdmissionSlot, percent: Int) {
        let slot = admissionSlot.raw
        if slot >= budgets.count { budgets += repeatElement(nil, count: slot + 1 - budgets.count) }
        let now = loop.now
        if budgets[slot]?.count(percent: percent, now: now) == nil {
            var budget = RetryBudget(percent: percent)
            budget.callStarted(now: now)
            budgets[slot] = budget
        }
    }

    /// Takes the budget for one retry or hedge of `call`; counts a refusal.
    private func spendBudget(_ call: Call) -> Bool {
        let slot = call.request.policy.slot.raw
        if budgets[slot] == nil { budgets[slot] = RetryBudget(percent: call.request.policy.retryBudgetPercent) }
        guard budgets[slot]!.spendExtra(now: loop.now) else {
            counters.budgetRefusals[call.request.policy.upstreamName, default: 0] &+= 1
            return false
        }
        return true
    }

    /// Milliseconds left until the call's end.
    private func remainingMs(_ call: Call) -> Int {
        call.request.policy.deadline > loop.now ? Int((call.request.policy.deadline - loop.now) / 1_000_000) : 0
    }
}

extension RetryBudget {
    /// ``callStarted(now:)`` under `percent`, the slot's `retry_budget` now (a reload may change it).
    fileprivate mutating func count(percent: Int, now: UInt64) {
        self.percent = percent
        callStarted(now: now)
    }
}
