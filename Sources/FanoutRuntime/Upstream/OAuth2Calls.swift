import FanoutCore

/// Calls to upstreams with `oauth2` pass here before ``UpstreamClient`` admits them: each gets its upstream's
/// access token (``OAuth2TokenSource``, one per upstream on this worker) as `Authorization: Bearer …`, in
/// place of any `Authorization` the request had (a client's credentials are never passed to the partner).
///
/// - A call that finds no valid token waits for the one token request in flight (single flight), until its
///   own deadline; it then fails `auth`, as it does at once while the token endpoint backs off after a failure.
/// - A 401 answer drops the token it was sent with, and the call is sent again once with a new one, when that
///   is safe: an idempotent method and no streamed request body. A streamed answer's 401 head and body are
///   held back for that (``OAuth2RetryReceiver``). A second 401 is the call's answer.
///
/// Its ids are owned by `.oauth2` (``TransferID/Owner``), so the client hands their cancel and resume here. Used on
/// the loop thread only.
final class OAuth2Calls {
    private let loop: EventLoop
    private unowned let client: UpstreamClient
    /// Per upstream admission slot (`AdmissionSlot.raw`).
    private var sources: [Int: OAuth2TokenSource] = [:]
    private var calls: [UInt64: Call] = [:]
    private var nextID: UInt64 = 1
    /// Token requests per upstream name and result, read by `Worker.metricsSnapshot()`.
    private(set) var tokenFetches: [ServerMetrics.TokenFetchKey: UInt64] = [:]

    /// What a configuration sets for one upstream with `oauth2`.
    struct Entry {
        var slot: AdmissionSlot
        var tokenSlot: AdmissionSlot
        var upstreamName: String
        var settings: OAuth2Settings
        var connectTimeoutMs: Int
    }

    private final class Call {
        let id: UInt64
        let request: UpstreamRequest
        let source: OAuth2TokenSource
        let startedAt: UInt64
        var completion: CallCompletion?
        /// The token the call was last sent with, the client's transfer while one runs, and the timer that
        /// ends a wait for a token at the call's deadline.
        var token: String?
        var transfer: TransferID?
        var sending = false
        var waitTimer: TimerID?
        /// The one retry after a 401 was made.
        var retried = false

        init(
            id: UInt64, request: UpstreamRequest, source: OAuth2TokenSource, startedAt: UInt64,
            completion: CallCompletion
        ) {
            self.id = id
            self.request = request
            self.source = source
            self.startedAt = startedAt
            self.completion = completion
        }

        /// A 401 may be answered by sending the call once more: not yet retried, an idempotent method, no
        /// streamed request body (its bytes are gone).
        var mayRetry: Bool {
            !self.retried && self.request.hooks.bodySource == nil && !self.request.policy.mustNotRepeat
                && HTTPMethod.isIdempotent(self.request.message.method)
        }
    }

    init(loop: EventLoop, client: UpstreamClient) {
        self.loop = loop
        self.client = client
    }

    /// Installs a configuration's `oauth2` upstreams. An upstream whose slot and settings did not change keeps
    /// its token; calls already waiting keep the source they started with.
    func configure(_ entries: [Entry]) {
        var next: [Int: OAuth2TokenSource] = [:]
        for entry in entries {
            if let source = self.sources[entry.slot.raw], source.settings == entry.settings,
                source.tokenSlot == entry.tokenSlot
            {
                next[entry.slot.raw] = source
            } else {
                next[entry.slot.raw] = OAuth2TokenSource(
                    upstreamName: entry.upstreamName, settings: entry.settings, tokenSlot: entry.tokenSlot,
                    connectTimeoutMs: entry.connectTimeoutMs)
            }
        }
        self.sources = next
    }

    /// Starts `request` when its upstream has `oauth2` (nil otherwise: the client admits it as it is).
    /// `completion` runs later on the loop thread, exactly once, unless ``cancel(_:timedOut:)`` comes first.
    func start(_ request: UpstreamRequest, completion: CallCompletion) -> TransferID? {
        guard let source = self.sources[request.policy.slot.raw] else { return nil }
        let id = self.nextID
        self.nextID += 1
        // The call's time is fixed at its start (as for ``CallAttempts``): the wait for a token, the send and
        // a retry after a 401 all end by the earlier of its `timeout` from now and the route's deadline.
        var request = request
        request.policy.deadline = min(
            request.policy.deadline, self.loop.now &+ UInt64(max(0, request.policy.timeoutMs)) &* 1_000_000)
        let call = Call(id: id, request: request, source: source, startedAt: self.loop.now, completion: completion)
        self.calls[id] = call
        self.acquire(call)
        return TransferID(owner: .oauth2, raw: id)
    }

    /// Stops a call without running its completion: it stops waiting for a token, or its transfer is cancelled.
    func cancel(_ transferID: TransferID, timedOut: Bool) {
        self.stop(transferID) { self.client.cancel($0, timedOut: timedOut) }
    }

    /// Lets a call go (``UpstreamCalls/release(_:)``): it stops waiting for a token, or its transfer is let go.
    func release(_ transferID: TransferID) {
        self.stop(transferID) { self.client.release($0) }
    }

    /// What ``cancel(_:timedOut:)`` and ``release(_:)`` share: the call stops waiting for a token, and
    /// `stopTransfer` stops the client's transfer it runs now.
    private func stop(_ transferID: TransferID, transfer stopTransfer: (TransferID) -> Void) {
        guard let call = self.calls.removeValue(forKey: transferID.raw) else { return }
        self.stopWaiting(call)
        if let transfer = call.transfer { stopTransfer(transfer) }
        call.transfer = nil
        call.completion = nil
    }

    /// The client's transfer a call runs now, for `UpstreamClient.resume(_:receiving:)`.
    func transfer(of transferID: TransferID) -> TransferID? {
        self.calls[transferID.raw]?.transfer
    }

    // MARK: - Tokens

    private func acquire(_ call: Call) {
        let source = call.source
        switch source.acquire(now: self.loop.now) {
        case .use(let token, let startFetch):
            if startFetch { self.fetch(source) }
            self.send(call, token: token)
        case .wait(let startFetch):
            source.waiters.append(call.id)
            let deadline = call.request.policy.deadline
            call.waitTimer = self.loop.schedule(at: deadline) { [weak self, weak call] in
                guard let self, let call, self.calls[call.id] === call else { return }
                call.waitTimer = nil
                self.stopWaiting(call)
                self.finish(call, .failure(.auth("the token endpoint gave no token within the call's timeout")))
            }
            if startFetch { self.fetch(source) }
        case .backingOff:
            self.loop.schedule(afterMilliseconds: 0) { [weak self, weak call] in
                guard let self, let call, self.calls[call.id] === call else { return }
                self.finish(call, .failure(.auth("\(source.lastFailure); retried after a back-off")))
            }
        }
    }

    private func fetch(_ source: OAuth2TokenSource) {
        source.fetch(through: self.client, now: self.loop.now) { [weak self] source, gotToken in
            guard let self else { return }
            let key = ServerMetrics.TokenFetchKey(upstream: source.upstreamName, result: gotToken ? "ok" : "failed")
            self.tokenFetches[key, default: 0] &+= 1
            let waiting = source.waiters
            source.waiters.removeAll()
            for id in waiting {
                guard let call = self.calls[id] else { continue }
                if let timer = call.waitTimer { self.loop.cancel(timer) }
                call.waitTimer = nil
                self.acquire(call)
            }
        }
    }

    private func stopWaiting(_ call: Call) {
        if let timer = call.waitTimer { self.loop.cancel(timer) }
        call.waitTimer = nil
        call.source.waiters.removeAll { $0 == call.id }
    }

    // MARK: - Sending

    private func send(_ call: Call, token: String) {
        var request = call.request
        request.message.headers =
            request.message.headers.filter { !$0.lowercased().hasPrefix("authorization:") } + [
                "Authorization: Bearer \(token)"
            ]
        if let receiver = request.hooks.receiver, call.mayRetry {
            request.hooks.receiver = OAuth2RetryReceiver(receiver)
        }
        call.token = token
        call.sending = true
        let transfer = self.client.admit(request) { [weak self, weak call] result in
            guard let self, let call else { return }
            call.sending = false
            call.transfer = nil
            self.answered(call, result)
        }
        if call.sending { call.transfer = transfer }  // the client may have reported already
    }

    private func answered(_ call: Call, _ result: UpstreamResult) {
        guard self.calls[call.id] === call else { return }
        if case .success(let answer) = result.outcome, answer.status == 401, call.mayRetry {
            call.retried = true
            if let token = call.token { call.source.invalidate(token) }
            self.loop.refreshNow()
            self.acquire(call)
            return
        }
        self.finish(call, result.outcome, attempts: result.attempts)
    }

    private func finish(_ call: Call, _ outcome: Result<UpstreamResponse, CallFailure>, attempts: Int = 1) {
        self.calls[call.id] = nil
        self.stopWaiting(call)
        guard let completion = call.completion else { return }
        call.completion = nil
        self.loop.refreshNow()
        completion(
            UpstreamResult(
                outcome: outcome, elapsedMs: Double(self.loop.now &- call.startedAt) / 1_000_000,
                attempts: attempts + (call.retried ? 1 : 0)))
    }
}

/// Stands between a streamed transfer and its receiver while a 401 may still be retried: a 401 head and its
/// body are kept from the client (the call is sent again), everything else passes through. Its methods run
/// inside libcurl's write callback, like the receiver's.
final class OAuth2RetryReceiver: UpstreamReceiver {
    private let receiver: any UpstreamReceiver
    private var holdingBack = false

    init(_ receiver: any UpstreamReceiver) {
        self.receiver = receiver
    }

    func upstreamHead(status: Int, lines: ProxiedHeaderLines, declaredLength: Int?) {
        if status == 401 {
            self.holdingBack = true
            return
        }
        self.receiver.upstreamHead(status: status, lines: lines, declaredLength: declaredLength)
    }

    func upstreamBody(_ bytes: UnsafeRawBufferPointer) -> Bool {
        self.holdingBack ? true : self.receiver.upstreamBody(bytes)
    }

    func upstreamArrived() {
        if !self.holdingBack { self.receiver.upstreamArrived() }
    }
}
